//! The emulator's account file for the local ACK: the cluster (with the agent's URL) and the two
//! RAM users the flows need — the cluster's admin and a developer who may not change encryption.

use std::path::{Path, PathBuf};

use secretkms_kms_emulator::KMS_CRYPTO_ADMIN_POLICY;
use serde_json::json;

use crate::error::{HarnessError, Result};

/// A RAM user of the local account with one AccessKey. `Debug` never shows the secret.
#[derive(Clone)]
pub struct AckUser {
    pub name: String,
    pub access_key_id: String,
    access_key_secret: String,
}

impl AckUser {
    pub(super) fn new(name: &str, secret: String) -> Self {
        let id: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
        Self {
            name: name.into(),
            access_key_id: format!("LTAI{id}"),
            access_key_secret: secret,
        }
    }

    /// The AccessKey secret (a local test credential of the emulator, valid nowhere else).
    pub fn access_key_secret(&self) -> &str {
        &self.access_key_secret
    }

    /// The environment a binary signs as this user with (the SDKs' variables; no metadata
    /// service, no CLI profile).
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "ALIBABA_CLOUD_ACCESS_KEY_ID".into(),
                self.access_key_id.clone(),
            ),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
                self.access_key_secret.clone(),
            ),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED".into(), "true".into()),
            ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED".into(), "true".into()),
        ]
    }
}

impl std::fmt::Debug for AckUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckUser")
            .field("name", &self.name)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// The cluster's entry.
#[derive(Debug)]
pub struct Cluster<'a> {
    pub cluster_id: &'a str,
    /// ACK's spelling, e.g. `1.36.0-aliyun.1`.
    pub version: &'a str,
    pub agent_url: &'a str,
    pub cool_down_seconds: u64,
}

/// Writes `account.json` into `dir` and returns its path.
pub fn write(
    dir: &Path,
    cluster: &Cluster<'_>,
    admin: &AckUser,
    developer: &AckUser,
) -> Result<PathBuf> {
    let user = |u: &AckUser, policies: &[&str], role: &str| {
        json!({
            "name": u.name,
            "access_keys": [{"id": u.access_key_id, "secret": u.access_key_secret}],
            "policies": policies,
            "cluster_permissions": [{"resource_id": cluster.cluster_id, "role_type": role,
                                     "is_owner": role == "admin"}],
        })
    };
    let file = json!({
        "users": [
            user(admin, &[KMS_CRYPTO_ADMIN_POLICY], "admin"),
            user(developer, &[], "dev"),
        ],
        "clusters": [{
            "cluster_id": cluster.cluster_id,
            "name": "local-ack",
            "current_version": cluster.version,
            "agent_url": cluster.agent_url,
            "cool_down_seconds": cluster.cool_down_seconds,
        }],
    });
    let path = dir.join("account.json");
    std::fs::write(&path, file.to_string())
        .map_err(HarnessError::io(format!("writing {}", path.display())))?;
    Ok(path)
}
