//! The key-change guard's settings; every field is optional.

use secretkms_policy_kit::{Enforcement, SettingsError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Settings {
    /// `enforce` (default) denies; `audit` allows with warnings and the `would-deny` audit
    /// annotation. Deliberately not taken from the SecretEncryption's own `enforcement`, or
    /// switching that to audit would disarm the guard of the very resource it protects.
    pub enforcement: Enforcement,
    /// Warn when the new key's deletion protection is off.
    pub warn_on_deletion_protection_off: bool,
    /// Deny declaring `spec.enforcement: audit`, or switching to it, without `secretkms.io/force`.
    pub deny_audit_switch: bool,
    /// When not empty, the key's region must be one of these.
    pub allowed_regions: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            enforcement: Enforcement::Enforce,
            warn_on_deletion_protection_off: true,
            deny_audit_switch: true,
            allowed_regions: Vec::new(),
        }
    }
}

impl Settings {
    /// Rejects values that parse but cannot be meant.
    pub fn check(&self) -> Result<(), SettingsError> {
        for (i, region) in self.allowed_regions.iter().enumerate() {
            let ok = !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(SettingsError::new(
                    format!("allowedRegions[{i}]"),
                    format!("{region:?} is not a region id (e.g. cn-hangzhou)"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretkms_policy_kit::parse_settings;

    #[test]
    fn defaults_and_every_field() {
        assert_eq!(parse_settings::<Settings>("").unwrap(), Settings::default());
        let s: Settings = parse_settings(
            r#"{"enforcement":"audit","warnOnDeletionProtectionOff":false,
                "denyAuditSwitch":false,"allowedRegions":["cn-hangzhou"]}"#,
        )
        .unwrap();
        assert_eq!(s.enforcement, Enforcement::Audit);
        assert!(!s.deny_audit_switch && !s.warn_on_deletion_protection_off);
        s.check().unwrap();
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_settings::<Settings>(r#"{"regions":[]}"#).unwrap_err();
        assert!(e.to_string().contains("unknown field `regions`"), "{e}");
        let e = parse_settings::<Settings>(r#"{"denyAuditSwitch":"yes"}"#).unwrap_err();
        assert!(e.to_string().contains("`denyAuditSwitch`"), "{e}");
        let s: Settings =
            parse_settings(r#"{"allowedRegions":["cn-hangzhou","CN Beijing"]}"#).unwrap();
        assert!(
            s.check()
                .unwrap_err()
                .to_string()
                .contains("`allowedRegions[1]`")
        );
    }
}
