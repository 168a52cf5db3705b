//! The checks a Secret-encryption key must pass, from its facts alone: `key check` prints them
//! as a checklist, `status` shows those that need attention, and the `KeyUsable` condition is
//! false while one fails.

use secretkms_model::{KeyFacts, KeyState, fix_commands};

use super::{Finding, Level};

/// The usage a key needs to wrap the apiserver's data keys.
pub const REQUIRED_USAGE: &str = "ENCRYPT/DECRYPT";

/// Every check, in checklist order. `expected_region` is the cluster's (declared or given);
/// `required_spec` the spec the key must have.
pub fn key_checks(
    key: &KeyFacts,
    expected_region: Option<&str>,
    required_spec: &str,
) -> Vec<Finding> {
    let id = key.key_id.as_str();
    let check = |level, name, reason: &str, detail: String| {
        Finding::new(level, "key", name, reason, detail)
    };
    let mut out = vec![check(
        Level::Pass,
        "exists",
        "KeyExists",
        match &key.arn {
            Some(arn) => format!("{id} ({arn})"),
            None => id.to_string(),
        },
    )];

    let state_name = state_label(key);
    let not_enabled = |detail: String| {
        check(
            Level::Fail,
            "enabled",
            &format!("Key{}", camel(&state_name)),
            detail,
        )
    };
    out.push(match key.state {
        KeyState::Enabled => check(
            Level::Pass,
            "enabled",
            "KeyEnabled",
            "KeyState Enabled".into(),
        ),
        KeyState::Disabled => {
            not_enabled("KeyState Disabled: the apiserver cannot encrypt or decrypt Secrets".into())
                .fix(fix_commands::enable_key(id))
        }
        KeyState::PendingDeletion => not_enabled(
            "KeyState PendingDeletion: the key will be deleted and every Secret lost".into(),
        )
        .fix(fix_commands::cancel_key_deletion(id)),
        KeyState::PendingImport => {
            not_enabled("KeyState PendingImport: no key material yet".into()).fix(format!(
                "import the key material: aliyun kms GetParametersForImport --KeyId {id} ..."
            ))
        }
        KeyState::Unknown => {
            not_enabled(format!("KeyState {state_name}: not usable")).fix("use an Enabled key")
        }
    });

    out.push(if key.spec == required_spec {
        check(
            Level::Pass,
            "key-spec",
            "KeySpec",
            format!("KeySpec {}", key.spec),
        )
    } else {
        check(
            Level::Fail,
            "key-spec",
            "WrongKeySpec",
            format!("KeySpec {} (ACK requires {required_spec})", key.spec),
        )
        .fix(format!(
            "a key's spec cannot change: create one with aliyun kms CreateKey --KeySpec {required_spec} --KeyUsage {REQUIRED_USAGE}"
        ))
    });

    out.push(match key.usage.as_str() {
        REQUIRED_USAGE => check(
            Level::Pass,
            "key-usage",
            "KeyUsage",
            format!("KeyUsage {REQUIRED_USAGE}"),
        ),
        "" => check(
            Level::Info,
            "key-usage",
            "KeyUsageUnknown",
            "KeyUsage not reported".into(),
        ),
        other => check(
            Level::Fail,
            "key-usage",
            "WrongKeyUsage",
            format!("KeyUsage {other} (ACK requires {REQUIRED_USAGE})"),
        )
        .fix(format!("create a key with --KeyUsage {REQUIRED_USAGE}")),
    });

    let cancel = format!("aliyun kms CancelKeyDeletion --KeyId {id}");
    out.push(match key.delete_date.as_deref().filter(|d| !d.is_empty()) {
        Some(date) => check(
            Level::Fail,
            "no-deletion-scheduled",
            "DeletionScheduled",
            format!("DeleteDate {date}"),
        )
        .fix(cancel),
        None if key.state == KeyState::PendingDeletion => check(
            Level::Fail,
            "no-deletion-scheduled",
            "DeletionScheduled",
            "PendingDeletion".into(),
        )
        .fix(cancel),
        None => check(
            Level::Pass,
            "no-deletion-scheduled",
            "NoDeletionScheduled",
            "no DeleteDate".into(),
        ),
    });

    out.push(match key.deletion_protection {
        Some(true) => check(
            Level::Pass,
            "deletion-protection",
            "DeletionProtected",
            "DeletionProtection Enabled".into(),
        ),
        Some(false) => check(
            Level::Warn,
            "deletion-protection",
            "DeletionProtectionOff",
            "DeletionProtection off: a scheduled deletion would make every Secret unreadable"
                .into(),
        )
        .fix(format!(
            "aliyun kms SetDeletionProtection --ProtectedResourceArn {} --EnableDeletionProtection true",
            key.arn.as_deref().unwrap_or("<key ARN>")
        )),
        None => check(
            Level::Info,
            "deletion-protection",
            "DeletionProtectionUnknown",
            "DeletionProtection not reported".into(),
        ),
    });

    out.push(match key.automatic_rotation {
        Some(true) => {
            let interval = key.rotation_interval.clone().unwrap_or_default();
            let days = interval
                .trim_end_matches('s')
                .parse::<u64>()
                .map(|s| s / 86_400)
                .ok();
            let next = key.next_rotation_date.as_deref().unwrap_or_default();
            let last = key.last_rotation_date.as_deref().unwrap_or("never");
            let detail = format!(
                "every {} (last {last}, next {next}); run `kubectl secretkms rewrite -A` after each rotation",
                days.map(|d| format!("{d}d")).unwrap_or(interval)
            );
            match days {
                Some(d) if d > 90 => check(
                    Level::Info,
                    "automatic-rotation",
                    "RotationInfrequent",
                    format!("{detail}; upstream suggests rotating at least every 90 days"),
                ),
                _ => check(Level::Pass, "automatic-rotation", "RotationOn", detail),
            }
        }
        Some(false) => check(
            Level::Warn,
            "automatic-rotation",
            "RotationOff",
            "AutomaticRotation Disabled".into(),
        )
        .fix(fix_commands::enable_rotation(id)),
        None => check(
            Level::Info,
            "automatic-rotation",
            "RotationUnknown",
            "AutomaticRotation not reported".into(),
        ),
    });

    out.push(match (expected_region, key.region.as_deref()) {
        (Some(want), Some(got)) if want == got => check(
            Level::Pass,
            "region",
            "SameRegion",
            format!("{got}, the cluster's region"),
        ),
        (Some(want), Some(got)) => check(
            Level::Fail,
            "region",
            "WrongRegion",
            format!(
                "the key is in {got}, the cluster in {want}: ACK needs a key in the cluster's region"
            ),
        )
        .fix(format!("create the key in {want}")),
        (Some(want), None) => check(
            Level::Warn,
            "region",
            "RegionUnknown",
            format!("cannot tell the key's region (no ARN) to compare with {want}"),
        ),
        (None, got) => check(
            Level::Info,
            "region",
            "RegionNotCompared",
            format!(
                "key in {}; pass --region (or declare spec.region) to compare with the cluster's",
                got.unwrap_or("an unknown region")
            ),
        ),
    });
    out
}

/// The state as the KMS spelled it, else as the model knows it.
fn state_label(key: &KeyFacts) -> String {
    if key.state_name.is_empty() {
        format!("{:?}", key.state)
    } else {
        key.state_name.clone()
    }
}

/// Only the letters and digits of `name`, so that it can end a CamelCase reason.
fn camel(name: &str) -> String {
    name.chars().filter(char::is_ascii_alphanumeric).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> KeyFacts {
        KeyFacts {
            key_id: "key-1".into(),
            arn: Some("acs:kms:cn-hangzhou:123:key/key-1".into()),
            region: Some("cn-hangzhou".into()),
            state: KeyState::Enabled,
            state_name: "Enabled".into(),
            spec: "Aliyun_AES_256".into(),
            usage: REQUIRED_USAGE.into(),
            deletion_protection: Some(true),
            automatic_rotation: Some(true),
            rotation_interval: Some("7776000s".into()),
            next_rotation_date: Some("2026-04-01T00:00:00Z".into()),
            ..Default::default()
        }
    }

    fn levels(checks: &[Finding]) -> Vec<(&'static str, Level)> {
        checks.iter().map(|c| (c.check, c.level)).collect()
    }

    #[test]
    fn a_good_key_passes_everything() {
        let checks = key_checks(&good(), Some("cn-hangzhou"), "Aliyun_AES_256");
        assert!(checks.iter().all(|c| c.level == Level::Pass), "{checks:#?}");
    }

    #[test]
    fn each_problem_names_its_fix() {
        let mut k = good();
        k.state = KeyState::PendingDeletion;
        k.state_name = "PendingDeletion".into();
        k.delete_date = Some("2026-02-01T00:00:00Z".into());
        k.spec = "Aliyun_AES_128".into();
        k.deletion_protection = Some(false);
        k.automatic_rotation = Some(false);
        let checks = key_checks(&k, Some("cn-beijing"), "Aliyun_AES_256");
        assert_eq!(
            levels(&checks),
            [
                ("exists", Level::Pass),
                ("enabled", Level::Fail),
                ("key-spec", Level::Fail),
                ("key-usage", Level::Pass),
                ("no-deletion-scheduled", Level::Fail),
                ("deletion-protection", Level::Warn),
                ("automatic-rotation", Level::Warn),
                ("region", Level::Fail),
            ]
        );
        assert_eq!(checks[1].reason, "KeyPendingDeletion");
        assert_eq!(
            checks[1].fix.as_deref(),
            Some("aliyun kms CancelKeyDeletion --KeyId key-1")
        );
        assert!(checks[4].message.contains("2026-02-01T00:00:00Z"));
        assert!(checks[7].message.contains("cn-hangzhou"));
    }

    #[test]
    fn facts_the_kms_did_not_report_are_info_not_warnings() {
        let mut k = good();
        k.usage = String::new();
        k.deletion_protection = None;
        k.automatic_rotation = None;
        let checks = key_checks(&k, Some("cn-hangzhou"), "Aliyun_AES_256");
        for name in ["key-usage", "deletion-protection", "automatic-rotation"] {
            let c = checks.iter().find(|c| c.check == name).unwrap();
            assert_eq!(c.level, Level::Info, "{c:?}");
        }
    }

    #[test]
    fn an_unknown_state_keeps_the_kms_spelling_in_its_reason() {
        let mut k = good();
        k.state = KeyState::Unknown;
        k.state_name = "Frozen".into();
        let enabled = &key_checks(&k, None, "Aliyun_AES_256")[1];
        assert_eq!(
            (enabled.level, enabled.reason.as_str()),
            (Level::Fail, "KeyFrozen")
        );
        assert_eq!(enabled.message, "KeyState Frozen: not usable");
    }
}
