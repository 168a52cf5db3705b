//! The `SecretEncryption` custom resource (`secretkms.io/v1alpha1`, cluster-scoped, one object
//! named `cluster`): what the operator declares, and the status the webhook's monitor writes
//! back so that `kubectl get secretencryption` answers "healthy?" at a glance.
//!
//! The CRD manifest is generated from these types (`SecretEncryption::crd()`); the chart's copy
//! is checked against it by a test, so the two cannot drift.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::judgement::conditions;
use secretkms_model::{Declared, EncryptionState, KeyFacts, defaults};

/// The only object name the webhook reads.
pub const CLUSTER: &str = "cluster";

/// What the operator declares about Secret encryption.
// Each printcolumn repeats `type_`, which this lint mistakes for a duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "secretkms.io",
    version = "v1alpha1",
    kind = "SecretEncryption",
    plural = "secretencryptions",
    singular = "secretencryption",
    shortname = "senc",
    category = "secretkms",
    status = "SecretEncryptionStatus",
    doc = "How the cluster's Secrets are encrypted at rest, and whether that is healthy. One object, named `cluster`.",
    printcolumn(name = "Key", type_ = "string", json_path = ".spec.key"),
    printcolumn(
        name = "Enforcement",
        type_ = "string",
        json_path = ".spec.enforcement"
    ),
    printcolumn(
        name = "Key State",
        type_ = "string",
        json_path = ".status.key.stateName"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Rewritten",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"RewriteComplete\")].status"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct SecretEncryptionSpec {
    /// `alibaba-kms`: the webhook reads the key's facts from Alibaba Cloud KMS. `kms-plugin`:
    /// only from the apiserver and the KMS v2 plugin; declaring it needs the annotation
    /// `secretkms.io/force: "true"`, as the webhook then knows nothing of the key's state.
    #[serde(default)]
    pub provider: Provider,
    /// The customer master key: id, alias (`alias/...`) or ARN.
    pub key: String,
    /// The key's region, e.g. `cn-hangzhou`; keys in other regions are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// A custom KMS endpoint: `public:<region>`, `vpc:<region>`,
    /// `https://kms[-vpc].<region>.aliyuncs.com`, a KMS instance's
    /// `https://<kst-...>.cryptoservice.kms.aliyuncs.com`, or loopback (the emulator); any other
    /// endpoint needs the annotation `secretkms.io/force: "true"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The key spec Secrets must be encrypted with.
    #[serde(default = "default_key_spec")]
    pub required_key_spec: String,
    /// `enforce` denies writes while encryption is misconfigured; `audit` only warns, and
    /// declaring it needs the annotation `secretkms.io/force: "true"`.
    #[serde(default)]
    pub enforcement: Enforcement,
    /// Namespaces whose Secret writes are never denied. Adding one weakens the guard and needs
    /// the annotation `secretkms.io/force: "true"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exempt_namespaces: Vec<String>,
    /// Facts older than this many seconds are not trusted (1 to 3600). Raising it weakens the
    /// guard and needs the annotation `secretkms.io/force: "true"`.
    // The maximum is `defaults::MAX_STATE_AGE_SECONDS_LIMIT`, whose comment says why an hour.
    #[serde(default = "default_max_age")]
    #[schemars(range(min = 1, max = defaults::MAX_STATE_AGE_SECONDS_LIMIT))]
    pub max_state_age_seconds: u64,
}

fn default_key_spec() -> String {
    defaults::KEY_SPEC.into()
}

fn default_max_age() -> u64 {
    defaults::MAX_STATE_AGE_SECONDS
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    #[default]
    AlibabaKms,
    KmsPlugin,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AlibabaKms => "alibaba-kms",
            Self::KmsPlugin => "kms-plugin",
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    #[default]
    Enforce,
    Audit,
}

impl From<&SecretEncryptionSpec> for Declared {
    fn from(spec: &SecretEncryptionSpec) -> Self {
        Declared {
            provider: spec.provider.as_str().into(),
            key: spec.key.clone(),
            region: spec.region.clone(),
            required_key_spec: spec.required_key_spec.clone(),
            enforce: spec.enforcement == Enforcement::Enforce,
            exempt_namespaces: spec.exempt_namespaces.clone(),
            max_state_age_seconds: spec.max_state_age_seconds,
        }
    }
}

/// What the monitor observed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretEncryptionStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The key's facts as KMS last reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<KeyFacts>,
    /// When these facts were assembled (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A Kubernetes-style condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// `Ready`, `KeyUsable`, `ProviderHealthy`, `EncryptionConfigured` or `RewriteComplete`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    pub reason: String,
    pub message: String,
    pub last_transition_time: String,
}

/// The condition types, in display order.
pub const CONDITION_TYPES: [&str; 5] = [
    "Ready",
    "KeyUsable",
    "ProviderHealthy",
    "EncryptionConfigured",
    "RewriteComplete",
];

impl SecretEncryptionStatus {
    /// The status for `state` (conditions from [`crate::judgement`]), keeping each condition's transition time from `previous` when
    /// its status did not change.
    pub fn from_state(
        state: &EncryptionState,
        previous: Option<&SecretEncryptionStatus>,
        now_rfc3339: &str,
    ) -> Self {
        let before: BTreeMap<&str, &Condition> = previous
            .map(|p| p.conditions.iter().map(|c| (c.type_.as_str(), c)).collect())
            .unwrap_or_default();
        let conditions = conditions(state)
            .into_iter()
            .map(|j| {
                let since = before
                    .get(j.type_)
                    .filter(|c| c.status == j.status)
                    .map(|c| c.last_transition_time.clone())
                    .unwrap_or_else(|| now_rfc3339.to_string());
                Condition {
                    type_: j.type_.into(),
                    status: j.status.into(),
                    reason: j.reason,
                    message: j.message,
                    last_transition_time: since,
                }
            })
            .collect();
        Self {
            conditions,
            key: state.key.clone(),
            observed_time: Some(now_rfc3339.to_string()),
            observed_generation: None,
        }
    }

    /// Conditions whose status differs from `previous` (all of them when there is none).
    pub fn transitions<'a>(
        &'a self,
        previous: Option<&SecretEncryptionStatus>,
    ) -> Vec<&'a Condition> {
        self.conditions
            .iter()
            .filter(|c| {
                previous
                    .and_then(|p| p.conditions.iter().find(|o| o.type_ == c.type_))
                    .is_none_or(|o| o.status != c.status)
            })
            .collect()
    }
}

/// A time as conditions and `observedTime` spell it: RFC 3339 in UTC, whole seconds.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The CRD manifest as YAML, with a header saying where it comes from.
pub fn crd_yaml() -> String {
    use kube::CustomResourceExt;
    let body = serde_yaml::to_string(&SecretEncryption::crd()).expect("the CRD serializes");
    format!(
        "# Generated from core/src/secret_encryption.rs; do not edit by hand.\n# Regenerate: SECRETKMS_BLESS=1 cargo test -p secretkms-core --lib secret_encryption\n{body}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use secretkms_model::KeyState;
    use secretkms_model::{ApiserverFacts, RewriteFacts};

    fn healthy() -> EncryptionState {
        EncryptionState {
            declared: Some(Declared {
                key: "k".into(),
                ..Default::default()
            }),
            key: Some(KeyFacts {
                key_id: "k".into(),
                state: KeyState::Enabled,
                state_name: "Enabled".into(),
                spec: "Aliyun_AES_256".into(),
                ..Default::default()
            }),
            apiserver: Some(ApiserverFacts {
                kms_configured: true,
                kms_healthy: true,
                detail: "ok".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn status_of<'a>(s: &'a SecretEncryptionStatus, t: &str) -> &'a Condition {
        s.conditions.iter().find(|c| c.type_ == t).unwrap()
    }

    #[test]
    fn a_healthy_state_is_ready() {
        let s = SecretEncryptionStatus::from_state(&healthy(), None, "2026-11-28T00:00:00Z");
        assert_eq!(status_of(&s, "Ready").status, "True");
        assert_eq!(status_of(&s, "RewriteComplete").status, "Unknown");
    }

    #[test]
    fn a_disabled_key_makes_it_not_ready_with_the_reason() {
        let mut state = healthy();
        let key = state.key.as_mut().unwrap();
        key.state = KeyState::Disabled;
        key.state_name = "Disabled".into();
        let s = SecretEncryptionStatus::from_state(&state, None, "t0");
        let ready = status_of(&s, "Ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "KeyDisabled")
        );
        assert_eq!(
            ready.message,
            "key k: KeyState Disabled: the apiserver cannot encrypt or decrypt Secrets; \
             fix: aliyun kms EnableKey --KeyId k"
        );
    }

    #[test]
    fn transition_times_only_move_on_a_change() {
        let first = SecretEncryptionStatus::from_state(&healthy(), None, "t0");
        let same = SecretEncryptionStatus::from_state(&healthy(), Some(&first), "t1");
        assert_eq!(status_of(&same, "Ready").last_transition_time, "t0");
        assert!(same.transitions(Some(&first)).is_empty());
        let mut state = healthy();
        state.rewrite = Some(RewriteFacts {
            target: "20260101-000000".into(),
            total: 10,
            done: 3,
        });
        let changed = SecretEncryptionStatus::from_state(&state, Some(&same), "t2");
        assert_eq!(
            status_of(&changed, "RewriteComplete").last_transition_time,
            "t2"
        );
        assert_eq!(changed.transitions(Some(&same)).len(), 1);
    }

    #[test]
    fn the_spec_maps_onto_the_declared_facts() {
        let spec: SecretEncryptionSpec =
            serde_json::from_str(r#"{"key":"alias/k8s","enforcement":"audit"}"#).unwrap();
        let d = Declared::from(&spec);
        assert_eq!(d.provider, "alibaba-kms");
        assert_eq!(d.required_key_spec, "Aliyun_AES_256");
        assert!(!d.enforce);
        assert_eq!(d.max_state_age_seconds, 300);
    }

    #[test]
    fn the_charts_crd_is_generated_from_these_types() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../charts/secretkms/crds/secretencryptions.secretkms.io.yaml");
        if std::env::var_os("SECRETKMS_BLESS").is_some() {
            std::fs::write(&path, crd_yaml()).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == crd_yaml(),
            "{} is out of date: rerun with SECRETKMS_BLESS=1",
            path.display()
        );
    }

    #[test]
    fn the_crd_is_cluster_scoped_with_status_and_printer_columns() {
        let crd = serde_json::to_value(SecretEncryption::crd()).unwrap();
        assert_eq!(crd["spec"]["scope"], "Cluster");
        assert_eq!(crd["metadata"]["name"], "secretencryptions.secretkms.io");
        let version = &crd["spec"]["versions"][0];
        assert!(version["subresources"]["status"].is_object());
        let columns: Vec<&str> = version["additionalPrinterColumns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert!(columns.contains(&"Ready"));
    }
}
