//! The JSON form of the state (camelCase, as `secretkms-core`'s `state.rs` writes it) and of key
//! facts, read into the generated WIT types. Used by [`crate::cases`] to run test cases natively.

use serde::Deserialize;

use crate::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyState, PluginFacts, RewriteFacts,
    SourceStatus,
};

/// Parses an `EncryptionState` JSON document.
pub fn parse_state(json: &str) -> Result<EncryptionState, serde_json::Error> {
    serde_json::from_str::<StateJson>(json).map(Into::into)
}

/// Parses one `KeyFacts` JSON object.
pub fn parse_key_facts(value: serde_json::Value) -> Result<KeyFacts, serde_json::Error> {
    serde_json::from_value::<KeyFactsJson>(value).map(Into::into)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct StateJson {
    declared: Option<DeclaredJson>,
    key: Option<KeyFactsJson>,
    apiserver: Option<ApiserverJson>,
    plugin: Option<PluginJson>,
    rewrite: Option<RewriteJson>,
    sources: Vec<SourceJson>,
    now: i64,
}

impl From<StateJson> for EncryptionState {
    fn from(s: StateJson) -> Self {
        Self {
            declared: s.declared.map(Into::into),
            key: s.key.map(Into::into),
            apiserver: s.apiserver.map(|a| ApiserverFacts {
                kms_configured: a.kms_configured,
                kms_healthy: a.kms_healthy,
                detail: a.detail,
            }),
            plugin: s.plugin.map(|p| PluginFacts {
                healthz: p.healthz,
                key_id: p.key_id,
                version: p.version,
            }),
            rewrite: s.rewrite.map(|r| RewriteFacts {
                target: r.target,
                total: r.total,
                done: r.done,
            }),
            sources: s
                .sources
                .into_iter()
                .map(|s| SourceStatus {
                    name: s.name,
                    age_seconds: s.age_seconds,
                    last_error: s.last_error,
                })
                .collect(),
            now: s.now,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DeclaredJson {
    provider: String,
    key: String,
    region: Option<String>,
    required_key_spec: String,
    enforce: bool,
    exempt_namespaces: Vec<String>,
    max_state_age_seconds: u64,
}

impl Default for DeclaredJson {
    fn default() -> Self {
        let d = Declared::for_key("");
        Self {
            provider: d.provider,
            key: d.key,
            region: d.region,
            required_key_spec: d.required_key_spec,
            enforce: d.enforce,
            exempt_namespaces: d.exempt_namespaces,
            max_state_age_seconds: d.max_state_age_seconds,
        }
    }
}

impl From<DeclaredJson> for Declared {
    fn from(d: DeclaredJson) -> Self {
        Self {
            provider: d.provider,
            key: d.key,
            region: d.region,
            required_key_spec: d.required_key_spec,
            enforce: d.enforce,
            exempt_namespaces: d.exempt_namespaces,
            max_state_age_seconds: d.max_state_age_seconds,
        }
    }
}

#[derive(Deserialize, Default)]
enum KeyStateJson {
    Enabled,
    Disabled,
    PendingDeletion,
    PendingImport,
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct KeyFactsJson {
    key_id: String,
    arn: Option<String>,
    region: Option<String>,
    state: KeyStateJson,
    state_name: String,
    spec: String,
    usage: String,
    primary_key_version: Option<String>,
    delete_date: Option<String>,
    deletion_protection: Option<bool>,
    automatic_rotation: Option<bool>,
    rotation_interval: Option<String>,
    last_rotation_date: Option<String>,
    next_rotation_date: Option<String>,
}

impl From<KeyFactsJson> for KeyFacts {
    fn from(k: KeyFactsJson) -> Self {
        Self {
            key_id: k.key_id,
            arn: k.arn,
            region: k.region,
            state: match k.state {
                KeyStateJson::Enabled => KeyState::Enabled,
                KeyStateJson::Disabled => KeyState::Disabled,
                KeyStateJson::PendingDeletion => KeyState::PendingDeletion,
                KeyStateJson::PendingImport => KeyState::PendingImport,
                KeyStateJson::Unknown => KeyState::Unknown,
            },
            state_name: k.state_name,
            spec: k.spec,
            usage: k.usage,
            primary_key_version: k.primary_key_version,
            delete_date: k.delete_date,
            deletion_protection: k.deletion_protection,
            automatic_rotation: k.automatic_rotation,
            rotation_interval: k.rotation_interval,
            last_rotation_date: k.last_rotation_date,
            next_rotation_date: k.next_rotation_date,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct ApiserverJson {
    kms_configured: bool,
    kms_healthy: bool,
    detail: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct PluginJson {
    healthz: String,
    key_id: String,
    version: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct RewriteJson {
    target: String,
    total: u64,
    done: u64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct SourceJson {
    name: String,
    age_seconds: Option<u64>,
    last_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_core_state_json() {
        let s = parse_state(
            r#"{"declared":{"key":"alias/k8s","enforce":false},
                "key":{"keyId":"key-1","state":"PendingDeletion","stateName":"PendingDeletion",
                       "deleteDate":"2026-06-01T00:00:00Z"},
                "apiserver":{"kmsConfigured":true,"kmsHealthy":true,"detail":"ok"},
                "sources":[{"name":"kms","ageSeconds":5}],"now":1770000000}"#,
        )
        .unwrap();
        let d = s.declared.unwrap();
        assert_eq!(d.required_key_spec, "Aliyun_AES_256");
        assert_eq!(d.max_state_age_seconds, 300);
        assert!(!d.enforce);
        assert_eq!(s.key.unwrap().state, KeyState::PendingDeletion);
        assert_eq!(s.sources[0].age_seconds, Some(5));
        assert_eq!(s.now, 1_770_000_000);
    }

    #[test]
    fn unknown_key_states_are_unknown() {
        let k = parse_key_facts(serde_json::json!({"keyId":"k","state":"Frozen"})).unwrap();
        assert_eq!(k.state, KeyState::Unknown);
    }
}
