//! Queries on the generated state types, and (with the `testing` feature) constructors that take
//! their defaults from the state model in `secretkms-model`.

use crate::{EncryptionState, KeyFacts, KeyState, SecretWriter, SourceStatus};

impl EncryptionState {
    /// Nothing known, evaluated at `now` (Unix seconds).
    pub fn empty(now: i64) -> Self {
        Self {
            declared: None,
            key: None,
            apiserver: None,
            plugin: None,
            rewrite: None,
            sources: Vec::new(),
            now,
        }
    }

    /// The freshness entry of source `name` (`declared`, `kms`, ...), if the host reports it.
    pub fn source(&self, name: &str) -> Option<&SourceStatus> {
        self.sources.iter().find(|s| s.name == name)
    }
}

#[cfg(feature = "testing")]
impl crate::Declared {
    /// The declaration of `key` with the model's defaults for everything else.
    pub fn for_key(key: impl Into<String>) -> Self {
        (&secretkms_model::Declared::for_key(key)).into()
    }
}

#[cfg(feature = "testing")]
impl KeyFacts {
    /// An Enabled `Aliyun_AES_256` key with nothing else known; tests change what they need.
    pub fn enabled(key_id: impl Into<String>) -> Self {
        (&secretkms_model::fixtures::enabled_key(key_id)).into()
    }
}

impl KeyFacts {
    /// The key's region: the reported one, else the region part of its ARN
    /// (`acs:kms:<region>:<account>:key/<id>`).
    pub fn effective_region(&self) -> Option<&str> {
        self.region
            .as_deref()
            .filter(|r| !r.is_empty())
            .or_else(|| self.arn.as_deref().and_then(arn_region))
    }

    /// The state as the KMS spelled it, falling back to the enum's name.
    pub fn state_label(&self) -> &str {
        if self.state_name.is_empty() {
            self.state.as_str()
        } else {
            &self.state_name
        }
    }
}

impl SecretWriter {
    /// True when the apiserver writes Secrets with a KMS provider (v1 or v2); the rule is the
    /// model's, so hosts and policies agree.
    pub fn is_kms(&self) -> bool {
        self.prefix
            .starts_with(secretkms_model::SecretWriter::KMS_PREFIX)
    }

    /// The provider as a person names it (`identity (plaintext)`, `aescbc v1`).
    pub fn provider(&self) -> String {
        secretkms_model::describe_prefix(&self.prefix)
    }
}

impl KeyState {
    /// The KMS's spelling (`PendingDeletion`), `Unknown` for unknown states.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Enabled => "Enabled",
            Self::Disabled => "Disabled",
            Self::PendingDeletion => "PendingDeletion",
            Self::PendingImport => "PendingImport",
            Self::Unknown => "Unknown",
        }
    }
}

/// The region part of an Alibaba Cloud KMS ARN, `acs:kms:<region>:<account>:key/<id>`.
pub fn arn_region(arn: &str) -> Option<&str> {
    let mut parts = arn.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("acs"), Some("kms"), Some(region)) if !region.is_empty() => Some(region),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> KeyFacts {
        KeyFacts {
            requested: String::new(),
            key_id: id.into(),
            arn: None,
            region: None,
            state: KeyState::Enabled,
            state_name: "Enabled".into(),
            spec: String::new(),
            usage: String::new(),
            primary_key_version: None,
            delete_date: None,
            deletion_protection: None,
            automatic_rotation: None,
            rotation_interval: None,
            last_rotation_date: None,
            next_rotation_date: None,
        }
    }

    #[test]
    fn region_comes_from_the_arn_when_not_reported() {
        let mut k = key("key-1");
        assert_eq!(k.effective_region(), None);
        k.arn = Some("acs:kms:cn-hangzhou:123456:key/key-1".into());
        assert_eq!(k.effective_region(), Some("cn-hangzhou"));
        k.region = Some("cn-beijing".into());
        assert_eq!(k.effective_region(), Some("cn-beijing"));
        assert_eq!(arn_region("arn:aws:kms:x"), None);
    }

    #[test]
    fn state_label_prefers_the_kms_spelling() {
        let mut k = key("k");
        k.state = KeyState::Unknown;
        k.state_name = "Frozen".into();
        assert_eq!(k.state_label(), "Frozen");
        k.state_name.clear();
        assert_eq!(k.state_label(), "Unknown");
    }

    #[test]
    fn sources_are_found_by_name() {
        let mut s = EncryptionState::empty(10);
        s.sources.push(SourceStatus {
            name: "kms".into(),
            age_seconds: Some(3),
            last_error: None,
        });
        assert_eq!(s.source("kms").unwrap().age_seconds, Some(3));
        assert!(s.source("plugin").is_none());
    }
}
