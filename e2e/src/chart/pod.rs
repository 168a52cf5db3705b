//! The webhook started exactly as the chart's Deployment would start it — its environment, its
//! arguments and its mounted files — except for what only a pod has (a pod IP, the in-cluster
//! token), which the caller replaces ([`PodStandIn`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::Rendered;
use crate::control_plane::ControlPlane;
use crate::error::{HarnessError, Result};
use crate::process::Supervised;

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
        crate::webhook::wait_healthy(&mut self.process, url, ca_pem).await
    }

    /// The webhook's log file.
    pub fn log(&self) -> &Path {
        &self.process.log
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
