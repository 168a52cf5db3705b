//! The encryption-state model: facts only, each part tagged with where it came from and how fresh
//! it is. Judgement lives in the policies, so the model never says "healthy"; it says what each
//! source reported and when.
//!
//! The JSON form (camelCase) is a stable file format: `--state-file`, `policy run --state` and the
//! policy test cases all use it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Lifecycle state of a cloud KMS key. Serialized exactly as Alibaba Cloud KMS spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
pub enum KeyState {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
    /// Any state this version does not know; the raw name is kept in [`KeyFacts::state_name`].
    #[default]
    #[serde(other)]
    Unknown,
}

impl KeyState {
    /// Maps the KMS's own spelling; unknown names are kept as [`KeyState::Unknown`].
    pub fn from_kms(name: &str) -> Self {
        match name {
            "Enabled" => Self::Enabled,
            "Disabled" => Self::Disabled,
            "PendingDeletion" => Self::PendingDeletion,
            "PendingImport" => Self::PendingImport,
            _ => Self::Unknown,
        }
    }
}

/// What the operator declared in the `SecretEncryption` resource named `cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Declared {
    /// `alibaba-kms` or `kms-plugin`.
    pub provider: String,
    /// Key id, alias or ARN.
    pub key: String,
    pub region: Option<String>,
    pub required_key_spec: String,
    pub enforce: bool,
    pub exempt_namespaces: Vec<String>,
    pub max_state_age_seconds: u64,
}

impl Default for Declared {
    fn default() -> Self {
        Self {
            provider: "alibaba-kms".into(),
            key: String::new(),
            region: None,
            required_key_spec: "Aliyun_AES_256".into(),
            enforce: true,
            exempt_namespaces: Vec::new(),
            max_state_age_seconds: 300,
        }
    }
}

/// Live key metadata from the cloud KMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyFacts {
    pub key_id: String,
    pub arn: Option<String>,
    pub region: Option<String>,
    pub state: KeyState,
    /// The KMS's own state string, for messages (e.g. `PendingDeletion`).
    pub state_name: String,
    pub spec: String,
    pub usage: String,
    pub primary_key_version: Option<String>,
    pub delete_date: Option<String>,
    pub deletion_protection: Option<bool>,
    pub automatic_rotation: Option<bool>,
    pub rotation_interval: Option<String>,
    pub last_rotation_date: Option<String>,
    pub next_rotation_date: Option<String>,
}

/// The kube-apiserver's view of its own KMS provider (`/readyz/kms-providers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiserverFacts {
    /// False when the check does not exist (404): no KMS provider is configured.
    pub kms_configured: bool,
    pub kms_healthy: bool,
    pub detail: String,
}

/// The KMS v2 plugin's `Status` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct PluginFacts {
    pub healthz: String,
    pub key_id: String,
    pub version: String,
}

/// Progress of the rotation rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct RewriteFacts {
    pub target: String,
    pub total: u64,
    pub done: u64,
}

/// Freshness of one source of facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SourceStatus {
    pub name: String,
    /// Seconds since the last success; `None` if the source never answered.
    pub age_seconds: Option<u64>,
    pub last_error: Option<String>,
}

/// Everything known about the cluster's Secret encryption at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct EncryptionState {
    pub declared: Option<Declared>,
    pub key: Option<KeyFacts>,
    pub apiserver: Option<ApiserverFacts>,
    pub plugin: Option<PluginFacts>,
    pub rewrite: Option<RewriteFacts>,
    pub sources: Vec<SourceStatus>,
    /// Unix seconds at evaluation time; hosts fill it in just before evaluating.
    pub now: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_state_names_do_not_fail_parsing() {
        let facts: KeyFacts =
            serde_json::from_str(r#"{"keyId":"k","state":"Frozen","stateName":"Frozen"}"#).unwrap();
        assert_eq!(facts.state, KeyState::Unknown);
        assert_eq!(facts.state_name, "Frozen");
    }

    #[test]
    fn declared_defaults_require_aes_256_and_enforce() {
        let d: Declared = serde_json::from_str(r#"{"key":"alias/k8s"}"#).unwrap();
        assert_eq!(d.required_key_spec, "Aliyun_AES_256");
        assert!(d.enforce);
    }
}
