//! The Helm chart as the tests see it: `helm lint` and `helm template` with the harness's helm,
//! the rendered manifests as JSON documents ([`Rendered`]), `kubectl apply --server-side` of any of
//! them, a kubeconfig for the chart's ServiceAccount, and the webhook started exactly as the
//! chart's Deployment would start it ([`ChartWebhook`]).

pub mod dashboard;
pub mod pod;
pub mod rendered;
pub mod service_account;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

use crate::binaries::repo_root;
use crate::control_plane::ControlPlane;
use crate::error::{HarnessError, Result};

pub use pod::{ChartWebhook, PodStandIn};
pub use rendered::Rendered;
pub use service_account::service_account_kubeconfig;

/// `charts/secretkms` in this repository.
pub fn chart_dir() -> PathBuf {
    repo_root().join("charts/secretkms")
}

/// The chart's `ci/*-values.yaml` files, sorted by name.
pub fn ci_values_files() -> Result<Vec<PathBuf>> {
    let dir = chart_dir().join("ci");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(HarnessError::io(format!("listing {}", dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("-values.yaml"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// Runs the harness's helm with `args` and returns its output, whatever its exit status.
pub fn helm(cp: &ControlPlane, args: &[&str]) -> Result<Output> {
    let helm = cp.binaries().helm();
    let home = cp.dir().join("helm-home");
    Command::new(&helm)
        .args(args)
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        // Keep helm's caches and repository config out of the user's home.
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .map_err(HarnessError::io(format!("running {}", helm.display())))
}

/// `helm template` of the chart; `extra` are further helm arguments (`-f`, `--set`, ...).
/// Fails with helm's stderr when rendering fails.
pub fn template(
    cp: &ControlPlane,
    release: &str,
    namespace: &str,
    extra: &[&str],
) -> Result<Rendered> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().expect("the repository path is UTF-8"),
        "--namespace",
        namespace,
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    let out = helm(cp, &args)?;
    if !out.status.success() {
        return Err(HarnessError::Webhook(format!(
            "helm {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Rendered::parse(&String::from_utf8_lossy(&out.stdout))
}

/// The manifests as one YAML stream (JSON documents are YAML).
pub fn to_stream<'a>(docs: impl IntoIterator<Item = &'a Value>) -> String {
    docs.into_iter()
        .map(|d| format!("---\n{d}\n"))
        .collect::<String>()
}

/// `kubectl apply --server-side` of `docs`, with the admin kubeconfig; `dry_run` adds
/// `--dry-run=server`, so the apiserver validates and admits them without storing them.
pub fn apply<'a>(
    cp: &ControlPlane,
    docs: impl IntoIterator<Item = &'a Value>,
    dry_run: bool,
) -> Result<Output> {
    let stream = to_stream(docs);
    let mut cmd = cp.kubectl();
    cmd.args([
        "apply",
        "--server-side",
        "--field-manager=secretkms-chart-test",
        "-f",
        "-",
    ]);
    if dry_run {
        cmd.arg("--dry-run=server");
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(HarnessError::io("running kubectl apply"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stream.as_bytes())
        .map_err(HarnessError::io("writing manifests to kubectl"))?;
    child
        .wait_with_output()
        .map_err(HarnessError::io("waiting for kubectl apply"))
}
