//! The Helm chart as the tests see it: `helm lint` and `helm template` with the harness's helm,
//! the rendered manifests as JSON documents, `kubectl apply --server-side` of any of them, and the
//! webhook started exactly as the chart's Deployment would start it — its environment, its
//! arguments and its mounted files — except for what only a pod has (a pod IP, the in-cluster
//! token), which the caller replaces.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::binaries::repo_root;
use crate::control_plane::ControlPlane;
use crate::error::{HarnessError, Result};
use crate::process::Supervised;

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

/// A rendered chart: every manifest as a JSON value, in helm's order.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub docs: Vec<Value>,
}

impl Rendered {
    /// Parses a multi-document YAML stream, skipping empty documents.
    pub fn parse(yaml: &str) -> Result<Self> {
        let mut docs = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| HarnessError::Webhook(format!("rendered YAML is invalid: {e}")))?;
            if !value.is_null() {
                docs.push(value);
            }
        }
        Ok(Self { docs })
    }

    /// Every manifest of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.docs.iter().filter(move |d| d["kind"] == kind)
    }

    /// The one manifest of `kind` (named `name`, when given).
    pub fn one(&self, kind: &str, name: Option<&str>) -> Result<&Value> {
        let mut found = self
            .docs
            .iter()
            .filter(|d| d["kind"] == kind)
            .filter(|d| name.is_none_or(|n| d["metadata"]["name"] == n));
        let first = found.next().ok_or_else(|| {
            HarnessError::Webhook(format!(
                "the chart rendered no {kind} {}",
                name.unwrap_or("")
            ))
        })?;
        if found.next().is_some() {
            return Err(HarnessError::Webhook(format!(
                "the chart rendered more than one {kind}"
            )));
        }
        Ok(first)
    }

    /// `kind/name` of every manifest, for messages.
    pub fn summary(&self) -> Vec<String> {
        self.docs
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }
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

/// A ServiceAccount token from the TokenRequest API, written into a kubeconfig, so that a
/// process authenticates exactly as a pod running under that ServiceAccount would.
pub fn service_account_kubeconfig(
    cp: &ControlPlane,
    namespace: &str,
    service_account: &str,
    path: &Path,
) -> Result<()> {
    let out = cp
        .kubectl()
        .args([
            "create",
            "token",
            service_account,
            "-n",
            namespace,
            "--duration=2h",
        ])
        .output()
        .map_err(HarnessError::io("running kubectl create token"))?;
    if !out.status.success() {
        return Err(HarnessError::Webhook(format!(
            "kubectl create token {service_account} -n {namespace}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let token = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let doc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: secretkms-e2e\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: {service_account}\n  user:\n    token: {token}\ncontexts:\n- name: sa\n  context:\n    cluster: secretkms-e2e\n    user: {service_account}\n    namespace: {namespace}\ncurrent-context: sa\n",
        server = cp.server,
        ca = B64.encode(cp.ca().cert_pem()),
    );
    std::fs::write(path, doc).map_err(HarnessError::io(format!("writing {}", path.display())))
}

/// What replaces the parts of a pod that a local process does not have.
#[derive(Debug, Clone, Default)]
pub struct PodStandIn {
    /// Content of each Secret volume or secretKeyRef: Secret name → key → bytes.
    pub secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    /// Environment set after the manifest's, e.g. a loopback listen address, the kubeconfig that
    /// stands in for the in-cluster token, or shorter intervals.
    pub env_overrides: Vec<(String, String)>,
    /// The pod name the downward API would give.
    pub pod_name: String,
}

/// The webhook started from the chart's Deployment.
#[derive(Debug)]
pub struct ChartWebhook {
    process: Supervised,
    /// Where the Deployment's volumes were materialised.
    pub root: PathBuf,
    /// The environment the process got, for assertions and messages (secret values redacted).
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
}

impl ChartWebhook {
    /// Starts `binary` with the container's `args` and `env` from `deployment`, its volumes
    /// materialised under a fresh folder (ConfigMaps from `rendered`, Secrets from
    /// `stand_in.secrets`, emptyDirs empty) and every mounted path rewritten to that folder.
    /// Volume kinds a local process cannot have (projected tokens, images) are an error.
    pub fn start(
        cp: &ControlPlane,
        binary: &Path,
        rendered: &Rendered,
        deployment: &Value,
        stand_in: &PodStandIn,
    ) -> Result<Self> {
        let bad = |m: String| HarnessError::Webhook(m);
        let root = tempfile::Builder::new()
            .prefix("chart-pod-")
            .tempdir_in(cp.dir())
            .map_err(HarnessError::io("creating the pod's folder"))?
            .keep();
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let volumes = pod["volumes"].as_array().cloned().unwrap_or_default();
        let mut mounts: Vec<(String, PathBuf)> = Vec::new();
        for mount in container["volumeMounts"].as_array().into_iter().flatten() {
            let name = mount["name"].as_str().unwrap_or_default();
            let mount_path = mount["mountPath"]
                .as_str()
                .ok_or_else(|| bad(format!("volumeMount {name} has no mountPath")))?;
            let volume = volumes
                .iter()
                .find(|v| v["name"] == name)
                .ok_or_else(|| bad(format!("volumeMount {name} names no volume")))?;
            let local = root.join(mount_path.trim_start_matches('/'));
            std::fs::create_dir_all(&local)
                .map_err(HarnessError::io(format!("creating {}", local.display())))?;
            materialise(volume, &local, rendered, stand_in)?;
            mounts.push((mount_path.to_string(), local));
        }
        // Longest mount path first, so nested mounts win.
        mounts.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        let relocate = |value: &str| -> String {
            for (mount, local) in &mounts {
                if let Some(rest) = value.strip_prefix(mount.as_str())
                    && (rest.is_empty() || rest.starts_with('/'))
                {
                    return format!("{}{rest}", local.display());
                }
            }
            value.to_string()
        };

        let mut env: Vec<(String, String)> = Vec::new();
        for var in container["env"].as_array().into_iter().flatten() {
            let name = var["name"].as_str().unwrap_or_default().to_string();
            let value = if let Some(v) = var["value"].as_str() {
                relocate(v)
            } else if var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name" {
                stand_in.pod_name.clone()
            } else if let Some(r) = var["valueFrom"]["secretKeyRef"].as_object() {
                let secret = r["name"].as_str().unwrap_or_default();
                let key = r["key"].as_str().unwrap_or_default();
                let bytes = stand_in
                    .secrets
                    .get(secret)
                    .and_then(|s| s.get(key))
                    .ok_or_else(|| {
                        bad(format!("env {name} refers to secret {secret} key {key}, which the test did not provide"))
                    })?;
                String::from_utf8(bytes.clone())
                    .map_err(|_| bad(format!("secret {secret} key {key} is not UTF-8")))?
            } else {
                return Err(bad(format!("env {name}: unsupported source {var}")));
            };
            env.push((name, value));
        }
        for (k, v) in &stand_in.env_overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        let args: Vec<String> = container["args"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a.as_str())
            .map(relocate)
            .collect();
        if container["command"].is_array() {
            return Err(bad(
                "the container overrides the image's command; the test runs the webhook binary"
                    .into(),
            ));
        }
        let process = Supervised::spawn_with_env(
            "secretkms-webhook (chart)",
            binary,
            &args,
            &env,
            &root.join("webhook.log"),
        )?;
        let secret_names: Vec<&str> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["valueFrom"]["secretKeyRef"].is_object())
            .filter_map(|v| v["name"].as_str())
            .collect();
        let shown = env
            .into_iter()
            .map(|(k, v)| {
                let v = if secret_names.contains(&k.as_str()) {
                    "<redacted>".to_string()
                } else {
                    v
                };
                (k, v)
            })
            .collect();
        Ok(Self {
            process,
            root,
            env: shown,
            args,
        })
    }

    /// Waits until `url` (an https URL on the webhook, e.g. `/healthz`) answers 200, trusting
    /// `ca_pem`.
    pub async fn wait_healthy(&mut self, url: &str, ca_pem: &str) -> Result<()> {
        secretkms_alibaba::install_crypto_provider();
        let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
            .map_err(|e| HarnessError::Webhook(e.to_string()))?;
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .build()
            .map_err(|e| HarnessError::Webhook(e.to_string()))?;
        let since = Instant::now();
        let mut last_error = String::from("not yet polled");
        while since.elapsed() < Duration::from_secs(30) {
            self.process.check_alive()?;
            match http.get(url).send().await {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last_error = format!("{url} answered {}", r.status()),
                Err(e) => last_error = format!("{e:?}"),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(self.process.not_ready(since, last_error))
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.process.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }
}

fn materialise(
    volume: &Value,
    dir: &Path,
    rendered: &Rendered,
    stand_in: &PodStandIn,
) -> Result<()> {
    let bad = |m: String| HarnessError::Webhook(m);
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes)
            .map_err(HarnessError::io(format!("writing {}", path.display())))
    };
    let name = volume["name"].as_str().unwrap_or_default();
    if volume["emptyDir"].is_object() {
        return Ok(());
    }
    if let Some(cm) = volume["configMap"]["name"].as_str() {
        let map = rendered.one("ConfigMap", Some(cm))?;
        for (key, value) in map["data"].as_object().into_iter().flatten() {
            write(key, value.as_str().unwrap_or_default().as_bytes())?;
        }
        return Ok(());
    }
    if let Some(secret) = volume["secret"]["secretName"].as_str() {
        let data = stand_in.secrets.get(secret).ok_or_else(|| {
            bad(format!(
                "volume {name} mounts secret {secret}, which the test did not provide"
            ))
        })?;
        match volume["secret"]["items"].as_array() {
            Some(items) => {
                for item in items {
                    let key = item["key"].as_str().unwrap_or_default();
                    let path = item["path"].as_str().unwrap_or(key);
                    let bytes = data
                        .get(key)
                        .ok_or_else(|| bad(format!("secret {secret} has no key {key}")))?;
                    write(path, bytes)?;
                }
            }
            None => {
                for (key, bytes) in data {
                    write(key, bytes)?;
                }
            }
        }
        return Ok(());
    }
    Err(bad(format!(
        "volume {name} ({volume}) cannot be materialised for a local process"
    )))
}

/// The webhook harness owns this; re-exported for the chart tests.
pub use crate::webhook::reviews_answered;
