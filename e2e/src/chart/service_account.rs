//! A kubeconfig that authenticates as a ServiceAccount, so a local process has exactly the
//! permissions a pod running under it would have.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::control_plane::ControlPlane;
use crate::error::{HarnessError, Result};

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
