//! `kubectl secretkms key protect KEY`: ACK's warning is "never disable or delete the key" — a
//! disabled or deleted key makes the apiserver unable to read any Secret or ServiceAccount. This
//! turns the key's deletion protection on (SetDeletionProtection, then DescribeKey to confirm),
//! and prints a RAM policy that denies disabling the key, scheduling its deletion and deleting its
//! material to everyone but a break-glass role, for the account's administrators to apply (as a
//! Resource Directory control policy, or attached to the users and groups that manage KMS).

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::kms_access::{KeyTarget, KmsArgs};

/// The actions that would make the key unusable.
pub const DENIED_ACTIONS: [&str; 3] = [
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:DeleteKeyMaterial",
];

const DESCRIPTION: &str = "encrypts Kubernetes Secrets: deleting it makes them unreadable";

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms key protect alias/k8s-secrets --region cn-hangzhou \\
      --break-glass-role acs:ram::123456789:role/kms-break-glass")]
pub struct KeyProtectArgs {
    /// Key id, alias (`alias/...`) or ARN.
    pub key: String,
    /// The key's region (default: the key ARN's).
    #[arg(long)]
    pub region: Option<String>,
    /// The RAM role ARN still allowed to disable or delete the key (in an emergency).
    #[arg(long, value_name = "ARN")]
    pub break_glass_role: String,
    #[command(flatten)]
    pub kms: KmsArgs,
}

/// `-o json|yaml`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyProtectReport {
    pub kind: &'static str,
    pub key: String,
    pub key_id: String,
    pub arn: String,
    /// DeletionProtection as DescribeKey reports it after the change.
    pub deletion_protection: String,
    /// Whether it was already on before.
    pub was_protected: bool,
    pub policy: serde_json::Value,
}

/// The RAM policy denying [`DENIED_ACTIONS`] on `key_arn` to every principal but `break_glass`.
pub fn policy(key_arn: &str, break_glass: &str) -> serde_json::Value {
    serde_json::json!({
        "Version": "1",
        "Statement": [{
            "Effect": "Deny",
            "Action": DENIED_ACTIONS,
            "Resource": [key_arn],
            "Condition": {
                "StringNotLike": { "acs:PrincipalARN": [break_glass] }
            }
        }]
    })
}

pub async fn run(global: &GlobalArgs, args: KeyProtectArgs) -> anyhow::Result<Exit> {
    let KeyProtectArgs {
        key,
        region,
        break_glass_role,
        kms,
    } = args;
    anyhow::ensure!(
        break_glass_role.starts_with("acs:ram::") && break_glass_role.contains(":role/"),
        "--break-glass-role {break_glass_role} is not a RAM role ARN (acs:ram::<account>:role/<name>)"
    );
    let target = KeyTarget::resolve(Some(key.clone()), region, None).expect("a key was given");
    let client = target.client(&kms)?;
    let before = client
        .describe_key(&key)
        .await
        .with_context(|| format!("cannot describe key {key}"))?
        .key_metadata;
    let was_protected = before.deletion_protection.as_deref() == Some("Enabled");
    if !was_protected {
        client
            .set_deletion_protection(&before.arn, true, Some(DESCRIPTION))
            .await
            .with_context(|| format!("cannot turn on deletion protection of {}", before.key_id))?;
    }
    let after = client
        .describe_key(&before.key_id)
        .await
        .with_context(|| format!("cannot describe key {}", before.key_id))?
        .key_metadata;
    let protection = after.deletion_protection.unwrap_or_default();
    let report = KeyProtectReport {
        kind: "KeyProtect",
        key,
        key_id: after.key_id,
        policy: policy(&after.arn, &break_glass_role),
        arn: after.arn,
        deletion_protection: protection.clone(),
        was_protected,
    };
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report));
    }
    Ok(Exit::findings_if(protection != "Enabled"))
}

pub fn render(report: &KeyProtectReport) -> String {
    let state = match (report.deletion_protection.as_str(), report.was_protected) {
        ("Enabled", true) => "deletion protection was already on".to_string(),
        ("Enabled", false) => "deletion protection turned on".to_string(),
        (other, _) => format!("deletion protection is still {other:?} after the change"),
    };
    format!(
        "key {} ({}): {state}\n\n\
         RAM policy: deny {} on the key to everyone but {}\n\
         (apply it as a Resource Directory control policy, or attach it to the users and groups that manage KMS):\n{}\n",
        report.key_id,
        report.arn,
        DENIED_ACTIONS.join(", "),
        report.policy["Statement"][0]["Condition"]["StringNotLike"]["acs:PrincipalARN"][0]
            .as_str()
            .unwrap_or_default(),
        serde_json::to_string_pretty(&report.policy).expect("a JSON value serializes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_denies_every_way_to_lose_the_key_but_to_the_break_glass_role() {
        let p = policy(
            "acs:kms:cn-hangzhou:1:key/key-1",
            "acs:ram::1:role/break-glass",
        );
        let s = &p["Statement"][0];
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(
            s["Action"],
            serde_json::json!([
                "kms:DisableKey",
                "kms:ScheduleKeyDeletion",
                "kms:DeleteKeyMaterial"
            ])
        );
        assert_eq!(s["Resource"][0], "acs:kms:cn-hangzhou:1:key/key-1");
        assert_eq!(
            s["Condition"]["StringNotLike"]["acs:PrincipalARN"][0],
            "acs:ram::1:role/break-glass"
        );
    }
}
