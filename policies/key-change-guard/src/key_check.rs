//! Checks a key that the SecretEncryption is about to point at, using the host's live
//! `describe-key`: it must exist, be Enabled, have the required spec and usage, and live in the
//! declared region.

use secretkms_policy_kit::model::fix_commands;
use secretkms_policy_kit::{KeyLookup, KeyState, SecretEncryptionSpec, Warnings};

use crate::settings::Settings;

/// Usage a key needs to wrap the apiserver's data keys.
const REQUIRED_USAGE: &str = "ENCRYPT/DECRYPT";

/// Adds a denial reason for each way the key in `spec` cannot be used, and warnings for softer
/// findings.
pub fn check_key(
    spec: &SecretEncryptionSpec,
    settings: &Settings,
    keys: &dyn KeyLookup,
    denials: &mut Vec<String>,
    warnings: &mut Warnings,
) {
    let wanted = spec.key.as_str();
    if wanted.trim().is_empty() {
        denials.push(
            "spec.key is empty: Secrets would have no KMS key; fix: set spec.key to a key id, \
             alias/... or ARN"
                .into(),
        );
        return;
    }
    let key = match keys.describe_key(wanted) {
        Ok(key) => key,
        Err(error) => {
            denials.push(format!(
                "key {wanted} cannot be used: the KMS answered {error}; fix: check the key id, \
                 alias or ARN and its region{}, and that the webhook may call kms:DescribeKey",
                spec.region
                    .as_deref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ));
            return;
        }
    };
    let id = if key.key_id.is_empty() {
        wanted
    } else {
        key.key_id.as_str()
    };
    // `alias/k8s (key-123)` when the operator wrote an alias or ARN, else just the id.
    let label = if id == wanted {
        wanted.to_owned()
    } else {
        format!("{wanted} ({id})")
    };
    match key.state {
        KeyState::Enabled => {}
        KeyState::PendingDeletion => denials.push(format!(
            "key {label} is PendingDeletion, to be deleted on {}: Secrets encrypted with \
             it would be lost; fix: {}, or choose another key",
            key.delete_date.as_deref().unwrap_or("an unknown date"),
            fix_commands::cancel_key_deletion(id)
        )),
        KeyState::Disabled => denials.push(format!(
            "key {label} is Disabled; fix: {}, or choose another key",
            fix_commands::enable_key(id)
        )),
        KeyState::PendingImport => denials.push(format!(
            "key {label} is PendingImport: it has no key material yet; fix: import it \
             (aliyun kms ImportKeyMaterial --KeyId {id}) or choose another key"
        )),
        KeyState::Unknown => denials.push(format!(
            "key {label} is in state {:?}; only Enabled keys may encrypt Secrets; fix: \
             check it with {}",
            key.state_label(),
            fix_commands::describe_key(id)
        )),
    }
    let required = spec.required_key_spec.as_str();
    if key.spec != required {
        denials.push(format!(
            "key {label} has spec {:?} but spec.requiredKeySpec is {required}; fix: \
             create a key with --KeySpec {required}",
            key.spec
        ));
    }
    if !key.usage.is_empty() && key.usage != REQUIRED_USAGE {
        denials.push(format!(
            "key {label} has usage {:?} but {REQUIRED_USAGE} is needed to wrap data \
             keys; fix: choose a symmetric encryption key",
            key.usage
        ));
    }
    let actual_region = key.effective_region();
    if let (Some(declared), Some(actual)) = (spec.region.as_deref(), actual_region)
        && !declared.is_empty()
        && declared != actual
    {
        denials.push(format!(
            "key {label} is in region {actual} but spec.region is {declared}; fix: set \
             spec.region to {actual} or choose a key in {declared}"
        ));
    }
    if !settings.allowed_regions.is_empty()
        && let Some(actual) = actual_region
        && !settings.allowed_regions.iter().any(|r| r == actual)
    {
        denials.push(format!(
            "key {label} is in region {actual}, not one of the allowed regions {}; fix: \
             choose a key in an allowed region",
            settings.allowed_regions.join(", ")
        ));
    }
    if settings.warn_on_deletion_protection_off && key.deletion_protection == Some(false) {
        warnings.push(format!(
            "key {id} has deletion protection off; fix: {}",
            fix_commands::enable_deletion_protection(key.arn.as_deref())
        ));
    }
}
