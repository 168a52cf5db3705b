//! kube-controller-manager beside a control plane, running only the controllers a test needs:
//! the StorageVersionMigrator and the garbage collector it requires (its informers are the
//! migrator's view of every object). Built from the same k8s.io/kubernetes module as the
//! apiserver by `hack/control-plane-bins.sh`.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::control_plane::ControlPlane;
use crate::error::Result;
use crate::process::{Supervised, free_port};

/// kube-apiserver flags that serve the migration API (beta and off by default since 1.35).
pub const SVM_APISERVER_ARGS: [&str; 2] = [
    "--runtime-config=storagemigration.k8s.io/v1beta1=true",
    "--feature-gates=StorageVersionMigrator=true",
];

/// A running kube-controller-manager; stopped when dropped.
#[derive(Debug)]
pub struct ControllerManager {
    process: Supervised,
}

impl ControllerManager {
    /// Starts the StorageVersionMigrator and the garbage collector against `cp`'s admin
    /// kubeconfig (loopback only, no leader election) and waits until the migrator has started.
    pub async fn start_storage_version_migrator(cp: &ControlPlane, dir: &Path) -> Result<Self> {
        let args = vec![
            format!("--kubeconfig={}", cp.kubeconfig.display()),
            "--controllers=garbage-collector-controller,storage-version-migrator-controller".into(),
            // InformerResourceVersion and InOrderInformers, the client-go gates it also needs,
            // are on by default from 1.35 and 1.36.
            "--feature-gates=StorageVersionMigrator=true".into(),
            "--leader-elect=false".into(),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", free_port()?),
            format!("--cert-dir={}", dir.join("kcm-certs").display()),
            "--authentication-skip-lookup=true".into(),
            "--v=2".into(),
        ];
        let log = dir.join("kube-controller-manager.log");
        let mut process = Supervised::spawn(
            "kube-controller-manager",
            &cp.binaries().dir.join("kube-controller-manager"),
            &args,
            &log,
        )?;
        let since = Instant::now();
        loop {
            process.check_alive()?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            // `"Starting" controller="storage-version-migrator-controller"`, from its Run.
            if text.lines().any(|l| {
                l.contains("\"Starting\"") && l.contains("storage-version-migrator-controller")
            }) {
                return Ok(Self { process });
            }
            if since.elapsed() > Duration::from_secs(120) {
                return Err(process.not_ready(since, "the storage-version-migrator never started"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Its log's last lines, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::tail(&self.process.log, lines)
    }
}

impl Drop for ControllerManager {
    fn drop(&mut self) {
        self.process.stop(Duration::from_secs(5));
    }
}
