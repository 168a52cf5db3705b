//! `kubectl secretkms key check KEY`: every ACK prerequisite of a Secret-encryption key as a
//! checklist (pass / info / warn / fail), each with the command that fixes it. The facts come
//! from one DescribeKey plus an Encrypt/Decrypt round trip with the caller's own credentials,
//! found exactly as the webhook finds them; the checks on them are the judge's
//! (`secretkms_core::judgement::key_checks`), the same `status` shows.

use std::collections::BTreeMap;

use anyhow::Context as _;
use clap::Args;
use secretkms_alibaba::kms::KmsError;
use secretkms_core::judgement::{self, Finding};
use secretkms_core::kms_facts;
use secretkms_model::Declared;
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::kms_access::{self, KeyTarget, KmsArgs};
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
    /// The KeySpec ACK requires (default: the SecretEncryption's, else Aliyun_AES_256).
    #[arg(long, value_name = "SPEC")]
    pub required_key_spec: Option<String>,
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

/// A check the judge derived from the key's facts.
impl From<Finding> for Check {
    fn from(f: Finding) -> Self {
        Self {
            name: f.check,
            level: f.level,
            detail: f.message,
            fix: f.fix,
        }
    }
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
    let target = KeyTarget::resolve(key, region, declared.as_ref())
        .context("no key given and no SecretEncryption named cluster declares one")?;
    let required_key_spec = required_key_spec.unwrap_or_else(|| {
        let declared = declared.as_ref().map(Declared::from);
        judgement::required_key_spec(declared.as_ref()).to_string()
    });
    let client = target.client(&kms)?;
    let KeyTarget { key, region, .. } = target;

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
    if let (Some(meta), Some(key_facts)) = (&meta, &facts) {
        checks.extend(
            judgement::key_checks(key_facts, region.as_deref(), &required_key_spec)
                .into_iter()
                .map(Check::from),
        );
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
