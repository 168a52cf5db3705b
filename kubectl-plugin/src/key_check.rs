//! `kubectl secretkms key check KEY`: every ACK prerequisite of a Secret-encryption key as a
//! checklist (pass / info / warn / fail), each with the command that fixes it. The facts come
//! from one DescribeKey plus an Encrypt/Decrypt round trip with the caller's own credentials,
//! found exactly as the webhook finds them.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Args;
use secretkms_alibaba::kms::{KeyMetadata, KmsError};
use secretkms_core::kms_facts;
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::kms_access::{self, KmsArgs};
use crate::output::{Level, Style, Table};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms key check alias/k8s-secrets --region cn-hangzhou
  kubectl secretkms key check acs:kms:cn-hangzhou:123456789:key/key-abc -o json")]
pub struct KeyCheckArgs {
    /// Key id, alias (`alias/...`) or ARN; default: the SecretEncryption's key.
    pub key: Option<String>,
    /// The cluster's region: the key must live there (default: the SecretEncryption's region).
    #[arg(long)]
    pub region: Option<String>,
    /// The KeySpec ACK requires.
    #[arg(long, default_value = "Aliyun_AES_256")]
    pub required_key_spec: String,
    /// Skip the Encrypt/Decrypt round trip (e.g. with read-only credentials).
    #[arg(long)]
    pub no_round_trip: bool,
    #[command(flatten)]
    pub kms: KmsArgs,
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(
    name: &'static str,
    level: Level,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        name,
        level,
        detail: detail.into(),
        fix,
    }
}

/// `-o json|yaml`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCheckReport {
    pub kind: &'static str,
    pub key: String,
    pub key_id: Option<String>,
    pub region: Option<String>,
    pub checks: Vec<Check>,
    /// `pass`, `warn` or `fail`: the worst level found (info counts as pass).
    pub result: Level,
}

pub async fn run(global: &GlobalArgs, args: KeyCheckArgs) -> anyhow::Result<Exit> {
    let KeyCheckArgs {
        key,
        region,
        required_key_spec,
        no_round_trip,
        kms,
    } = args;
    // The SecretEncryption fills in what the flags leave out; without a cluster, flags suffice.
    let declared = if key.is_none() || (region.is_none() && kms.kms_endpoint.is_none()) {
        match global.kube.client(true).await {
            Ok((client, _)) => kms_access::declared(&client).await.unwrap_or(None),
            Err(_) => None,
        }
    } else {
        None
    };
    let key = key
        .or_else(|| declared.as_ref().map(|d| d.key.clone()))
        .filter(|k| !k.is_empty())
        .context("no key given and no SecretEncryption named cluster declares one")?;
    let region = region.or_else(|| declared.as_ref().and_then(|d| d.region.clone()));
    let endpoint = kms.endpoint(
        &key,
        region.as_deref(),
        declared.as_ref().and_then(|d| d.endpoint.as_deref()),
    )?;
    let client = kms.client(endpoint)?;

    let mut checks = Vec::new();
    let meta = match client.describe_key(&key).await {
        Ok(r) => Some(r.key_metadata),
        Err(e @ KmsError::KeyNotFound(_)) => {
            checks.push(check(
                "exists",
                Level::Fail,
                format!("{e}"),
                Some(format!(
                    "check the id/alias {key} and that the KMS endpoint is the key's region; or create one: aliyun kms CreateKey --KeySpec {required_key_spec} --KeyUsage ENCRYPT/DECRYPT"
                )),
            ));
            None
        }
        Err(e @ KmsError::NoPermission(_)) => {
            checks.push(check(
                "exists",
                Level::Fail,
                format!("{e}"),
                Some("grant kms:DescribeKey on the key to these credentials".into()),
            ));
            None
        }
        Err(e) => return Err(e).with_context(|| format!("cannot describe key {key}")),
    };
    let facts = meta.as_ref().map(kms_facts::from_metadata);
    if let Some(meta) = &meta {
        checks.extend(evaluate(meta, region.as_deref(), &required_key_spec));
        if no_round_trip {
            checks.push(check(
                "encrypt-decrypt",
                Level::Info,
                "skipped (--no-round-trip)",
                None,
            ));
        } else if meta.key_state != "Enabled" {
            checks.push(check(
                "encrypt-decrypt",
                Level::Info,
                format!("skipped: the key is {}", meta.key_state),
                None,
            ));
        } else {
            checks.push(round_trip(&client, &meta.key_id).await);
        }
    }
    let result = checks
        .iter()
        .map(|c| {
            if c.level == Level::Info {
                Level::Pass
            } else {
                c.level
            }
        })
        .max()
        .unwrap_or(Level::Pass);
    let report = KeyCheckReport {
        kind: "KeyCheck",
        key: key.clone(),
        key_id: meta.as_ref().map(|m| m.key_id.clone()),
        region: facts.as_ref().and_then(|f| f.region.clone()),
        checks,
        result,
    };
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report, global.output.style()));
    }
    Ok(Exit::findings_if(result == Level::Fail))
}

/// The checks that need only DescribeKey's answer.
pub fn evaluate(
    meta: &KeyMetadata,
    expected_region: Option<&str>,
    required_spec: &str,
) -> Vec<Check> {
    let id = &meta.key_id;
    let facts = kms_facts::from_metadata(meta);
    let mut out = vec![check(
        "exists",
        Level::Pass,
        format!("{id} ({})", meta.arn),
        None,
    )];

    out.push(match meta.key_state.as_str() {
        "Enabled" => check("enabled", Level::Pass, "KeyState Enabled", None),
        "Disabled" => check(
            "enabled",
            Level::Fail,
            "KeyState Disabled: the apiserver cannot encrypt or decrypt Secrets",
            Some(format!("aliyun kms EnableKey --KeyId {id}")),
        ),
        "PendingDeletion" => check(
            "enabled",
            Level::Fail,
            "KeyState PendingDeletion: the key will be deleted and every Secret lost",
            Some(format!("aliyun kms CancelKeyDeletion --KeyId {id}")),
        ),
        "PendingImport" => check(
            "enabled",
            Level::Fail,
            "KeyState PendingImport: no key material yet",
            Some(format!(
                "import the key material: aliyun kms GetParametersForImport --KeyId {id} ..."
            )),
        ),
        other => check(
            "enabled",
            Level::Fail,
            format!("KeyState {other}: not usable"),
            Some("use an Enabled key".into()),
        ),
    });

    out.push(if meta.key_spec == required_spec {
        check("key-spec", Level::Pass, format!("KeySpec {}", meta.key_spec), None)
    } else {
        check(
            "key-spec",
            Level::Fail,
            format!("KeySpec {} (ACK requires {required_spec})", meta.key_spec),
            Some(format!(
                "a key's spec cannot change: create one with aliyun kms CreateKey --KeySpec {required_spec} --KeyUsage ENCRYPT/DECRYPT"
            )),
        )
    });

    out.push(if meta.key_usage == "ENCRYPT/DECRYPT" {
        check("key-usage", Level::Pass, "KeyUsage ENCRYPT/DECRYPT", None)
    } else {
        check(
            "key-usage",
            Level::Fail,
            format!("KeyUsage {} (ACK requires ENCRYPT/DECRYPT)", meta.key_usage),
            Some("create a key with --KeyUsage ENCRYPT/DECRYPT".into()),
        )
    });

    out.push(
        match meta.delete_date.as_deref().filter(|d| !d.is_empty()) {
            Some(date) => check(
                "no-deletion-scheduled",
                Level::Fail,
                format!("DeleteDate {date}"),
                Some(format!("aliyun kms CancelKeyDeletion --KeyId {id}")),
            ),
            None if meta.key_state == "PendingDeletion" => check(
                "no-deletion-scheduled",
                Level::Fail,
                "PendingDeletion",
                Some(format!("aliyun kms CancelKeyDeletion --KeyId {id}")),
            ),
            None => check("no-deletion-scheduled", Level::Pass, "no DeleteDate", None),
        },
    );

    out.push(if facts.deletion_protection == Some(true) {
        check("deletion-protection", Level::Pass, "DeletionProtection Enabled", None)
    } else {
        check(
            "deletion-protection",
            Level::Warn,
            "DeletionProtection off: a scheduled deletion would make every Secret unreadable",
            Some(format!(
                "aliyun kms SetDeletionProtection --ProtectedResourceArn {} --EnableDeletionProtection true",
                meta.arn
            )),
        )
    });

    let rotation = meta.automatic_rotation.as_deref().unwrap_or("Disabled");
    out.push(match rotation {
        "Enabled" => {
            let interval = meta.rotation_interval.clone().unwrap_or_default();
            let days = interval
                .trim_end_matches('s')
                .parse::<u64>()
                .map(|s| s / 86_400)
                .ok();
            let next = meta.next_rotation_date.clone().unwrap_or_default();
            let last = meta.last_rotation_date.clone().unwrap_or_else(|| "never".into());
            let detail = format!(
                "every {} (last {last}, next {next}); run `kubectl secretkms rewrite -A` after each rotation",
                days.map(|d| format!("{d}d")).unwrap_or(interval)
            );
            match days {
                Some(d) if d > 90 => check(
                    "automatic-rotation",
                    Level::Info,
                    format!("{detail}; upstream suggests rotating at least every 90 days"),
                    None,
                ),
                _ => check("automatic-rotation", Level::Pass, detail, None),
            }
        }
        other => check(
            "automatic-rotation",
            Level::Warn,
            format!("AutomaticRotation {other}"),
            Some(format!(
                "aliyun kms UpdateRotationPolicy --KeyId {id} --EnableAutomaticRotation true --RotationInterval 90d"
            )),
        ),
    });

    out.push(match (expected_region, facts.region.as_deref()) {
        (Some(want), Some(got)) if want == got => {
            check("region", Level::Pass, format!("{got}, the cluster's region"), None)
        }
        (Some(want), Some(got)) => check(
            "region",
            Level::Fail,
            format!("the key is in {got}, the cluster in {want}: ACK needs a key in the cluster's region"),
            Some(format!("create the key in {want}")),
        ),
        (Some(want), None) => check(
            "region",
            Level::Warn,
            format!("cannot tell the key's region (no ARN) to compare with {want}"),
            None,
        ),
        (None, got) => check(
            "region",
            Level::Info,
            format!(
                "key in {}; pass --region (or declare spec.region) to compare with the cluster's",
                got.unwrap_or("an unknown region")
            ),
            None,
        ),
    });
    out
}

/// Encrypt then Decrypt a probe with these credentials, as the apiserver's KMS plugin will.
async fn round_trip(client: &secretkms_alibaba::kms::KmsClient, key_id: &str) -> Check {
    const PROBE: &[u8] = b"secretkms key check";
    let context = BTreeMap::from([("secretkms".to_string(), "key-check".to_string())]);
    let fix = |e: &KmsError| {
        match e {
        KmsError::NoPermission(_) => Some(
            "grant kms:Encrypt and kms:Decrypt on the key (e.g. the AliyunKMSCryptoAdminAccess policy)".to_string(),
        ),
        _ => None,
    }
    };
    let encrypted = match client.encrypt(key_id, PROBE, Some(&context)).await {
        Ok(r) => r,
        Err(e) => {
            return check(
                "encrypt-decrypt",
                Level::Fail,
                format!("Encrypt: {e}"),
                fix(&e),
            );
        }
    };
    match client
        .decrypt(&encrypted.ciphertext_blob, Some(&context))
        .await
    {
        Ok(d) if d.plaintext.0 == PROBE => check(
            "encrypt-decrypt",
            Level::Pass,
            format!("round trip with version {}", encrypted.key_version_id),
            None,
        ),
        Ok(_) => check(
            "encrypt-decrypt",
            Level::Fail,
            "Decrypt returned different bytes than were encrypted",
            None,
        ),
        Err(e) => check(
            "encrypt-decrypt",
            Level::Fail,
            format!("Decrypt: {e}"),
            fix(&e),
        ),
    }
}

/// The human checklist.
pub fn render(report: &KeyCheckReport, style: Style) -> String {
    let mut out = format!(
        "key {}{}\n",
        report.key,
        match (&report.key_id, &report.region) {
            (Some(id), Some(r)) if *id != report.key => format!(" ({id}, {r})"),
            (_, Some(r)) => format!(" ({r})"),
            _ => String::new(),
        }
    );
    let mut table = Table::new(&["check", "result", "detail"]);
    for c in &report.checks {
        table.row(vec![
            c.name.to_string(),
            c.level.label().to_string(),
            c.detail.clone(),
        ]);
    }
    out.push_str(&table.render_with(|col, row, cell| {
        if col == 1 {
            style.level(report.checks[row].level, cell.len())
        } else {
            cell
        }
    }));
    let fixes: Vec<_> = report
        .checks
        .iter()
        .filter_map(|c| c.fix.as_ref().map(|f| (c.name, f)))
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nfixes:\n");
        for (name, fix) in fixes {
            out.push_str(&format!("  {name}: {fix}\n"));
        }
    }
    out.push_str(&format!("\nresult: {}\n", style.level(report.result, 0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> KeyMetadata {
        serde_json::from_value(serde_json::json!({
            "KeyId": "key-1", "Arn": "acs:kms:cn-hangzhou:123:key/key-1", "KeyState": "Enabled",
            "KeySpec": "Aliyun_AES_256", "KeyUsage": "ENCRYPT/DECRYPT", "CreationDate": "2026-01-01T00:00:00Z",
            "Creator": "123", "Description": "", "Origin": "Aliyun_KMS", "ProtectionLevel": "SOFTWARE",
            "DeletionProtection": "Enabled", "AutomaticRotation": "Enabled", "RotationInterval": "7776000s",
            "NextRotationDate": "2026-04-01T00:00:00Z"
        }))
        .unwrap()
    }

    fn levels(checks: &[Check]) -> Vec<(&'static str, Level)> {
        checks.iter().map(|c| (c.name, c.level)).collect()
    }

    #[test]
    fn a_good_key_passes_everything() {
        let checks = evaluate(&meta(), Some("cn-hangzhou"), "Aliyun_AES_256");
        assert!(checks.iter().all(|c| c.level == Level::Pass), "{checks:#?}");
    }

    #[test]
    fn each_problem_names_its_fix() {
        let mut m = meta();
        m.key_state = "PendingDeletion".into();
        m.delete_date = Some("2026-02-01T00:00:00Z".into());
        m.key_spec = "Aliyun_AES_128".into();
        m.deletion_protection = Some("Disabled".into());
        m.automatic_rotation = Some("Disabled".into());
        let checks = evaluate(&m, Some("cn-beijing"), "Aliyun_AES_256");
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
        assert_eq!(
            checks[1].fix.as_deref(),
            Some("aliyun kms CancelKeyDeletion --KeyId key-1")
        );
        assert!(checks[4].detail.contains("2026-02-01T00:00:00Z"));
        assert!(checks[7].detail.contains("cn-hangzhou"));
    }
}
