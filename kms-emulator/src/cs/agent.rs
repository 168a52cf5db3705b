//! The seam between the emulated ACK and a real control plane: the cluster agent. When
//! `UpdateKMSEncryption` is accepted, the emulator POSTs an [`EncryptionChange`] as JSON to the
//! cluster's `agent_url` (loopback only) and waits; a 2xx answer means the change is applied and
//! the cluster goes back to `running`, anything else leaves it `failed` with the agent's reason.
//! The agent (the e2e harness's local ACK) rewrites the apiserver's EncryptionConfiguration and
//! restarts it; the emulator itself stays free of Kubernetes. A cluster without an agent changes
//! in the model only, `running` again after [`MODEL_ONLY_APPLY_MS`].

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::auth::StsCredential;
use crate::{Emulator, lock};
use secretkms_alibaba::openapi::signature::format_timestamp;

/// How long a cluster without an agent stays `updating`.
pub const MODEL_ONLY_APPLY_MS: u64 = 2_000;
/// How long the emulator waits for an agent (apiserver restarts take seconds, not minutes).
pub const AGENT_TIMEOUT: Duration = Duration::from_secs(300);

/// What the agent is asked to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionChange {
    pub cluster_id: String,
    pub region_id: String,
    /// `true`: KMS writes Secrets; `false`: identity writes, KMS stays to read old Secrets.
    pub enabled: bool,
    /// The key that encrypts (enable) or encrypted (disable) Secrets.
    pub kms_key_id: String,
    /// STS credentials of `AliyunCSManagedSecurityRole` for the KMS plugin, so every KMS call
    /// it makes is recorded with that role as the caller, as on ACK.
    pub credentials: RoleCredentials,
}

/// STS credentials; `Debug` shows the id only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: String,
    /// `yyyy-MM-ddTHH:mm:ssZ`.
    pub expiration: String,
    pub role_name: String,
}

impl RoleCredentials {
    pub(crate) fn new(access_key_id: String, credential: &StsCredential) -> Self {
        Self {
            access_key_id,
            access_key_secret: credential.secret.clone(),
            security_token: credential.token.clone(),
            expiration: format_timestamp(credential.expiration),
            role_name: credential.assumed.0.clone(),
        }
    }
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("role_name", &self.role_name)
            .finish_non_exhaustive()
    }
}

/// Applies `change` in the background and moves the cluster to `running` or `failed`.
pub fn spawn(emu: Arc<Emulator>, agent_url: Option<String>, change: EncryptionChange) {
    tokio::spawn(async move {
        let outcome = match &agent_url {
            Some(url) => post(url, &change).await,
            None => {
                tokio::time::sleep(Duration::from_millis(MODEL_ONLY_APPLY_MS)).await;
                Ok(())
            }
        };
        finish(&emu, &change, outcome);
    });
}

async fn post(url: &str, change: &EncryptionChange) -> Result<(), String> {
    secretkms_alibaba::install_crypto_provider();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(AGENT_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build the agent client: {e}"))?;
    let response = client
        .post(url)
        .json(change)
        .send()
        .await
        .map_err(|e| format!("cluster agent at {url} did not answer: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    let reason: String = body.chars().take(500).collect();
    Err(format!(
        "cluster agent at {url} answered {}: {reason}",
        status.as_u16()
    ))
}

fn finish(emu: &Emulator, change: &EncryptionChange, outcome: Result<(), String>) {
    let mut account = lock(&emu.account);
    let Ok(cluster) = account.cluster_mut(&change.cluster_id) else {
        tracing::warn!(cluster = %change.cluster_id, "cluster removed while updating");
        return;
    };
    match outcome {
        Ok(()) => {
            cluster.state = "running".into();
            cluster.kms_key_id = change.enabled.then(|| change.kms_key_id.clone());
            tracing::info!(cluster = %change.cluster_id, enabled = change.enabled, "cluster running");
        }
        Err(reason) => {
            tracing::warn!(cluster = %change.cluster_id, %reason, "cluster change failed");
            cluster.state = "failed".into();
            cluster.last_error = Some(reason);
        }
    }
}
