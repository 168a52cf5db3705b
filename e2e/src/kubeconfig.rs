//! Admin kubeconfig files with embedded certificates, and clients built from them.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{HarnessError, Result};
use crate::pki::CertPair;

/// Writes a kubeconfig with one cluster, one user and one current context named `secretkms-e2e`.
pub fn write(path: &Path, server: &str, ca_pem: &str, user: &CertPair) -> Result<()> {
    let doc = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: secretkms-e2e\n  cluster:\n    server: {server}\n    certificate-authority-data: {ca}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {key}\ncontexts:\n- name: secretkms-e2e\n  context:\n    cluster: secretkms-e2e\n    user: admin\ncurrent-context: secretkms-e2e\n",
        ca = B64.encode(ca_pem),
        cert = B64.encode(&user.cert_pem),
        key = B64.encode(&user.key_pem),
    );
    std::fs::write(path, doc).map_err(HarnessError::io(format!("writing {}", path.display())))
}

/// A client for the kubeconfig's current context.
pub async fn client(path: &Path) -> Result<Client> {
    secretkms_alibaba::install_crypto_provider();
    let bad = |message: String| HarnessError::Kubeconfig {
        path: path.to_path_buf(),
        message,
    };
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| bad(e.to_string()))?;
    Ok(Client::try_from(config)?)
}
