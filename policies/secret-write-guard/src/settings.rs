//! The secret-write guard's settings. Every field is optional; an unset field falls back to the
//! declared SecretEncryption, then to the built-in default.

use secretkms_policy_kit::{Enforcement, SettingsError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// Overrides the declared `requiredKeySpec`.
    pub required_key_spec: Option<String>,
    /// Added to the declared exempt namespaces.
    pub exempt_namespaces: Vec<String>,
    /// Overrides the declared `maxStateAgeSeconds`.
    pub max_state_age_seconds: Option<u64>,
    /// Warn on Secret writes while the key's deletion protection is off.
    pub warn_on_deletion_protection_off: bool,
    /// Warn on Secret writes while the key's automatic rotation is off.
    pub warn_on_rotation_off: bool,
    /// Compare the KMS v2 plugin's key_id with the declared key. Turn off for plugins whose
    /// key_id is an opaque hash that names neither the key nor its version.
    pub check_plugin_key_id: bool,
    /// Overrides the declared enforcement for this policy: `enforce` denies, `audit` allows
    /// with warnings and audit annotations.
    pub enforcement: Option<Enforcement>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            required_key_spec: None,
            exempt_namespaces: Vec::new(),
            max_state_age_seconds: None,
            warn_on_deletion_protection_off: true,
            warn_on_rotation_off: true,
            check_plugin_key_id: true,
            enforcement: None,
        }
    }
}

impl Settings {
    /// Rejects values that parse but cannot be meant.
    pub fn check(&self) -> Result<(), SettingsError> {
        if let Some(spec) = &self.required_key_spec
            && spec.trim().is_empty()
        {
            return Err(SettingsError::new(
                "requiredKeySpec",
                "must not be empty (e.g. Aliyun_AES_256)",
            ));
        }
        if self.max_state_age_seconds == Some(0) {
            return Err(SettingsError::new(
                "maxStateAgeSeconds",
                "must be at least 1 (0 would deny every Secret write)",
            ));
        }
        for (i, ns) in self.exempt_namespaces.iter().enumerate() {
            if !is_dns_label(ns) {
                return Err(SettingsError::new(
                    format!("exemptNamespaces[{i}]"),
                    format!("{ns:?} is not a namespace name (lowercase RFC 1123 label)"),
                ));
            }
        }
        Ok(())
    }
}

/// A Kubernetes namespace name: 1-63 of `[a-z0-9-]`, starting and ending alphanumeric.
pub fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretkms_policy_kit::parse_settings;

    #[test]
    fn all_fields_are_optional() {
        let s: Settings = parse_settings("{}").unwrap();
        assert_eq!(s, Settings::default());
        assert!(s.warn_on_rotation_off && s.warn_on_deletion_protection_off);
    }

    #[test]
    fn reads_every_field() {
        let s: Settings = parse_settings(
            r#"{"requiredKeySpec":"Aliyun_SM4","exemptNamespaces":["kube-system"],
                "maxStateAgeSeconds":60,"warnOnDeletionProtectionOff":false,
                "warnOnRotationOff":false,"checkPluginKeyId":false,"enforcement":"audit"}"#,
        )
        .unwrap();
        assert_eq!(s.required_key_spec.as_deref(), Some("Aliyun_SM4"));
        assert_eq!(s.max_state_age_seconds, Some(60));
        assert_eq!(s.enforcement, Some(Enforcement::Audit));
        assert!(!s.check_plugin_key_id);
        s.check().unwrap();
    }

    #[test]
    fn unknown_fields_are_rejected_by_name() {
        let e = parse_settings::<Settings>(r#"{"maxStateAge":60}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `maxStateAge`"), "{e}");
    }

    #[test]
    fn bad_values_name_the_field() {
        let check = |json: &str| {
            parse_settings::<Settings>(json)
                .and_then(|s| s.check())
                .unwrap_err()
                .to_string()
        };
        assert!(check(r#"{"maxStateAgeSeconds":0}"#).contains("`maxStateAgeSeconds`"));
        assert!(check(r#"{"maxStateAgeSeconds":-5}"#).contains("`maxStateAgeSeconds`"));
        assert!(check(r#"{"requiredKeySpec":" "}"#).contains("`requiredKeySpec`"));
        assert!(check(r#"{"exemptNamespaces":["ok","Bad_NS"]}"#).contains("`exemptNamespaces[1]`"));
        assert!(check(r#"{"enforcement":"loud"}"#).contains("`enforcement`"));
    }

    #[test]
    fn dns_labels() {
        assert!(is_dns_label("kube-system"));
        assert!(!is_dns_label("-x"));
        assert!(!is_dns_label(""));
        assert!(!is_dns_label(&"a".repeat(64)));
    }
}
