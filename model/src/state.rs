//! The encryption-state model: facts only, each part tagged with where it came from and how fresh
//! it is. Judgement lives in the policies, so the model never says "healthy"; it says what each
//! source reported and when.
//!
//! The JSON form (camelCase) is a stable file format: `--state-file`, `policy run --state` and the
//! policy test cases all use it.

use serde::{Deserialize, Serialize};

use crate::defaults;

/// Lifecycle state of a cloud KMS key. Serialized exactly as Alibaba Cloud KMS spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
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
            provider: defaults::PROVIDER.into(),
            key: String::new(),
            region: None,
            required_key_spec: defaults::KEY_SPEC.into(),
            enforce: defaults::ENFORCE,
            exempt_namespaces: Vec::new(),
            max_state_age_seconds: defaults::MAX_STATE_AGE_SECONDS,
        }
    }
}

impl Declared {
    /// The declaration of `key` (an id, alias or ARN) with every other field at its default.
    pub fn for_key(key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            ..Self::default()
        }
    }
}

/// Live key metadata from the cloud KMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", default)]
pub struct KeyFacts {
    /// The id, alias or ARN these facts were described for; empty when unknown (state files
    /// written before it existed). Facts asked for another key than the declared one are the
    /// wrong key's facts, however healthy they look.
    pub requested: String,
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

impl KeyFacts {
    /// Facts asked for another key than the declared one are the wrong key's facts; facts that
    /// do not say which key they were asked for (older state files) count.
    pub fn is_of_declared(&self, declared: Option<&Declared>) -> bool {
        self.requested.is_empty() || declared.is_none_or(|d| d.key == self.requested)
    }
}

/// One KMS health check of the apiserver: `kms-providers`, or `kms-provider-<n>` per KMS v1
/// provider when automatic reload is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct KmsCheck {
    pub name: String,
    pub healthy: bool,
    /// The check's own text: `ok`, or why it fails.
    pub detail: String,
}

/// Where one apiserver stores new Secrets: the stored prefix of its first provider for Secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct SecretWriter {
    /// The apiserver's `apiserver_id_hash` where its metrics carry one; empty otherwise.
    pub apiserver: String,
    /// `k8s:enc:kms:v2:<name>:` and the like; empty for `identity`, that is plaintext.
    pub prefix: String,
}

impl SecretWriter {
    /// The stored prefix every provider but identity writes (`k8s:enc:<type>:<version>:`).
    pub const PROVIDER_PREFIX: &'static str = "k8s:enc:";
    /// The stored prefix every KMS provider (v1 and v2) writes.
    pub const KMS_PREFIX: &'static str = "k8s:enc:kms:";

    pub fn is_kms(&self) -> bool {
        self.prefix.starts_with(Self::KMS_PREFIX)
    }

    /// The provider as a person names it: `identity (plaintext)`, `kms v2 (secretkms)`,
    /// `aescbc v1`.
    pub fn provider(&self) -> String {
        describe_prefix(&self.prefix)
    }
}

/// `k8s:enc:<type>:<version>:<name>:` as `<type> <version> (<name>)`; empty as identity.
pub fn describe_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        return "identity (plaintext)".into();
    }
    let parts: Vec<&str> = prefix
        .strip_prefix(SecretWriter::PROVIDER_PREFIX)
        .unwrap_or(prefix)
        .trim_end_matches(':')
        .split(':')
        .collect();
    match parts.as_slice() {
        [kind, version, name] => format!("{kind} {version} ({name})"),
        // Local-key providers: the key's name is a prefix of its own, counted apart.
        [kind, version] => format!("{kind} {version}"),
        _ => prefix.to_string(),
    }
}

/// The KMS v2 key_id one apiserver's plugin reported last, and when that apiserver started: a
/// KMS v2 apiserver wraps a new DEK seed only when that key_id changes or when it starts, so
/// these tell whether a rewrite after a rotation re-wraps Secrets (`core::rotation_reach`).
/// Facts only: not part of the policy contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyIdReport {
    /// The apiserver's `apiserver_id_hash`.
    pub apiserver: String,
    /// The KMS provider's name in the EncryptionConfiguration.
    pub provider: String,
    /// The `key_id_hash` the apiserver's metrics carry (`sha256:<hex>`).
    pub key_id_hash: String,
    /// The apiserver process's start, unix seconds (`process_start_time_seconds`).
    pub started_at: Option<i64>,
}

/// The kube-apiserver's own view of its encryption: its KMS health checks and, where measured,
/// which provider writes Secrets and which KMS v2 key_id each apiserver uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct ApiserverFacts {
    /// True when the apiserver has at least one KMS health check.
    pub kms_configured: bool,
    /// True when every KMS health check passes.
    pub kms_healthy: bool,
    pub detail: String,
    /// Every KMS health check, in the apiserver's order.
    pub checks: Vec<KmsCheck>,
    /// The providers that wrote Secrets most recently, per apiserver; empty while not measured.
    pub secret_writers: Vec<SecretWriter>,
    /// The KMS v2 key_id each apiserver seen uses; empty while not measured or without KMS v2.
    pub key_ids: Vec<KeyIdReport>,
}

impl ApiserverFacts {
    /// The facts of a set of KMS checks: configured when there is one, healthy when all pass.
    pub fn from_checks(checks: Vec<KmsCheck>) -> Self {
        let failing: Vec<String> = checks
            .iter()
            .filter(|c| !c.healthy)
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect();
        let detail = if checks.is_empty() {
            "the apiserver has no KMS health check (neither kms-providers nor kms-provider-N): \
             no KMS provider is configured"
                .to_string()
        } else if failing.is_empty() {
            "ok".to_string()
        } else {
            failing.join("; ")
        };
        Self {
            kms_configured: !checks.is_empty(),
            kms_healthy: !checks.is_empty() && failing.is_empty(),
            detail,
            checks,
            secret_writers: Vec::new(),
            key_ids: Vec::new(),
        }
    }
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
        assert_eq!(d.provider, "alibaba-kms");
        assert_eq!(d.required_key_spec, "Aliyun_AES_256");
        assert!(d.enforce);
        assert_eq!(d.max_state_age_seconds, 300);
        assert_eq!(d, Declared::for_key("alias/k8s"));
    }

    /// The JSON form is a file format (`--state-file`, `policy run --state`, the policy cases):
    /// camelCase names, the KMS's spelling of key states, every field written.
    #[test]
    fn the_json_form_is_stable() {
        let state = EncryptionState {
            declared: Some(Declared::for_key("alias/k8s")),
            key: Some(KeyFacts {
                key_id: "key-1".into(),
                state: KeyState::PendingDeletion,
                state_name: "PendingDeletion".into(),
                delete_date: Some("2026-06-01T00:00:00Z".into()),
                ..Default::default()
            }),
            apiserver: None,
            plugin: Some(PluginFacts {
                healthz: "ok".into(),
                key_id: "key-1/v1".into(),
                version: "v2".into(),
            }),
            rewrite: Some(RewriteFacts {
                target: "20260401-000000".into(),
                total: 2,
                done: 1,
            }),
            sources: vec![SourceStatus {
                name: "kms".into(),
                age_seconds: Some(5),
                last_error: None,
            }],
            now: 1_770_000_000,
        };
        let json = serde_json::to_string(&state).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"declared":{"provider":"alibaba-kms","key":"alias/k8s","region":null,"#,
                r#""requiredKeySpec":"Aliyun_AES_256","enforce":true,"exemptNamespaces":[],"#,
                r#""maxStateAgeSeconds":300},"#,
                r#""key":{"requested":"","keyId":"key-1","arn":null,"region":null,"state":"PendingDeletion","#,
                r#""stateName":"PendingDeletion","spec":"","usage":"","primaryKeyVersion":null,"#,
                r#""deleteDate":"2026-06-01T00:00:00Z","deletionProtection":null,"#,
                r#""automaticRotation":null,"rotationInterval":null,"lastRotationDate":null,"#,
                r#""nextRotationDate":null},"apiserver":null,"#,
                r#""plugin":{"healthz":"ok","keyId":"key-1/v1","version":"v2"},"#,
                r#""rewrite":{"target":"20260401-000000","total":2,"done":1},"#,
                r#""sources":[{"name":"kms","ageSeconds":5,"lastError":null}],"now":1770000000}"#
            )
        );
        assert_eq!(
            serde_json::from_str::<EncryptionState>(&json).unwrap(),
            state
        );
    }

    #[test]
    fn checks_make_the_summary_and_prefixes_name_their_provider() {
        let none = ApiserverFacts::from_checks(Vec::new());
        assert!(!none.kms_configured && !none.kms_healthy);
        let v1 = ApiserverFacts::from_checks(vec![
            KmsCheck {
                name: "kms-provider-0".into(),
                healthy: true,
                detail: "ok".into(),
            },
            KmsCheck {
                name: "kms-provider-1".into(),
                healthy: false,
                detail: "failed to decrypt".into(),
            },
        ]);
        assert!(v1.kms_configured && !v1.kms_healthy);
        assert_eq!(v1.detail, "kms-provider-1: failed to decrypt");
        let plain = SecretWriter::default();
        assert!(!plain.is_kms());
        assert_eq!(plain.provider(), "identity (plaintext)");
        let kms = SecretWriter {
            apiserver: String::new(),
            prefix: "k8s:enc:kms:v2:secretkms:".into(),
        };
        assert!(kms.is_kms());
        assert_eq!(kms.provider(), "kms v2 (secretkms)");
        assert_eq!(
            describe_prefix("k8s:enc:aescbc:v1:key1:"),
            "aescbc v1 (key1)"
        );
    }

    #[test]
    fn absent_parts_and_fields_take_their_defaults() {
        let s: EncryptionState = serde_json::from_str(
            r#"{"declared":{"key":"alias/k8s","enforce":false},"sources":[{"name":"kms"}]}"#,
        )
        .unwrap();
        let d = s.declared.unwrap();
        assert_eq!(d.required_key_spec, "Aliyun_AES_256");
        assert!(!d.enforce);
        assert!(s.key.is_none());
        assert_eq!(s.sources[0].age_seconds, None);
        assert_eq!(s.now, 0);
    }
}
