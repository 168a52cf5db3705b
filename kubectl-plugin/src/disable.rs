//! `kubectl secretkms disable --cluster-id ID`: ACK's flow for turning Secret encryption off,
//! the same shape as `enable` in reverse. The preflight says what happens to the Secrets already
//! encrypted (they stay on KMS until rewritten; counted from etcd where it can be read) and
//! refuses while the key is not usable, since the apiserver could not read what it must
//! rewrite. Then the SecretEncryption goes to audit with force first, so the guard does not deny
//! every write while KMS is turned off; UpdateKMSEncryption with `disable_encryption`; the wait
//! for `running`; a canary that must no longer go through KMS; and what remains to be done.

use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use secretkms_alibaba::cs::UpdateKmsEncryption;
use serde::Serialize;
use time::OffsetDateTime;

use crate::checklist::{self, Check};
use crate::cli::GlobalArgs;
use crate::cloud_access::CloudArgs;
use crate::cluster_update::{self, Update, WaitArgs};
use crate::enable::render_preflight;
use crate::exit::Exit;
use crate::guard;
use crate::kms_access::{self, KeyTarget, KmsArgs};
use crate::object_count::count;
use crate::output::{Format, Level};
use crate::preflight::{self, PreflightReport};
use crate::verify::{self, Expect, Verification, VerifyOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms disable --cluster-id c0123456789 --region cn-hangzhou --dry-run
  kubectl secretkms disable --cluster-id c0123456789 --region cn-hangzhou -o json")]
pub struct DisableArgs {
    /// The ACK cluster's id.
    #[arg(long, value_name = "ID")]
    pub cluster_id: String,
    /// The key Secrets are encrypted with now (default: the SecretEncryption's, else ACK's).
    #[arg(long)]
    pub key: Option<String>,
    /// The cluster's region (default: the SecretEncryption's, else the key ARN's).
    #[arg(long)]
    pub region: Option<String>,
    /// Run the preflight only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go ahead despite warnings (failures always stop the change).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub verify: VerifyOptions,
    #[command(flatten)]
    pub kms: KmsArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// `-o json|yaml` of `disable`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisableReport {
    pub kind: &'static str,
    pub preflight: PreflightReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// What is left to do once encryption is off.
    pub remaining: Vec<String>,
    pub result: Level,
}

impl DisableReport {
    fn finish(mut self) -> Self {
        let mut all = self.preflight.checks.clone();
        all.extend(self.guard.clone());
        all.extend(self.update.iter().map(|u| u.check.clone()));
        all.extend(self.verification.iter().flat_map(|v| v.checks.clone()));
        self.result = checklist::result(&all);
        self
    }
}

pub async fn run(global: &GlobalArgs, args: DisableArgs) -> anyhow::Result<Exit> {
    let DisableArgs {
        cluster_id,
        key,
        region,
        dry_run,
        force,
        wait,
        verify: verify_options,
        kms,
        cloud,
    } = args;
    let table = global.output.output == Format::Table;
    let style = global.output.style();
    // The guard must be switched first, so without the cluster nothing may change.
    let (client, _) = global.kube.client(true).await?;
    let declared = kms_access::declared(&client).await.unwrap_or(None);
    let region = region
        .or_else(|| declared.as_ref().and_then(|d| d.region.clone()))
        .or_else(|| {
            key.as_deref()
                .and_then(secretkms_alibaba::kms::KeyArn::parse)
                .map(|a| a.region)
        });
    let Some(region) = region else {
        anyhow::bail!("cannot tell cluster {cluster_id}'s region: pass --region");
    };
    let cloud = cloud.connect(&region)?;

    let mut checks = Vec::new();
    let (line, caller) = preflight::caller(&cloud).await;
    checks.push(line);
    checks.push(preflight::cluster_role(&cloud, &cluster_id, caller.as_ref()).await);
    let detail = match preflight::cluster(&cloud, &cluster_id).await {
        Ok(detail) => {
            checks.push(crate::preflight::state_check(&detail));
            Some(detail)
        }
        Err(check) => {
            checks.push(check);
            None
        }
    };
    let key = key
        .or_else(|| declared.as_ref().map(|d| d.key.clone()))
        .or_else(|| {
            detail
                .as_ref()
                .and_then(|d| d.secret_encryption_key().flatten())
        });
    let key_id =
        match &key {
            Some(key) => {
                let target =
                    KeyTarget::resolve(Some(key.clone()), Some(region.clone()), declared.as_ref())
                        .expect("a key was given");
                let found = preflight::key_checks(
                    &target.client(&kms)?,
                    key,
                    Some(&region),
                    secretkms_model::defaults::KEY_SPEC,
                    true,
                )
                .await?;
                checks.push(key_usable(key, &found));
                found.meta.map(|m| m.key_id)
            }
            None => {
                checks.push(Check::unchecked(
                "key-usable",
                "neither --key, a SecretEncryption nor ACK names the key",
            ).fix("pass --key: the key must stay enabled until every Secret is rewritten off it"));
                None
            }
        };
    checks.push(existing_secrets(&client, &verify_options).await);

    let preflight = PreflightReport::new(
        &cluster_id,
        key.as_deref().unwrap_or_default(),
        key_id,
        &region,
        checks,
        None,
    );
    if table {
        print!("{}", render_preflight(&preflight, style));
    }
    let mut report = DisableReport {
        kind: "Disable",
        skipped: None,
        guard: None,
        update: None,
        verification: None,
        remaining: Vec::new(),
        result: preflight.result,
        preflight,
    };
    let stop = if dry_run {
        Some("--dry-run".to_string())
    } else if !report.preflight.allows(force) {
        Some(match report.preflight.result {
            Level::Fail => "the preflight failed".to_string(),
            _ => "the preflight warns (pass --force to go ahead anyway)".to_string(),
        })
    } else {
        None
    };
    if let Some(reason) = stop {
        if table {
            println!("\nnot changing cluster {cluster_id}: {reason}");
        }
        report.skipped = Some(reason);
        return finish(global, report.finish(), table);
    }

    let guard = guard::audit(&client).await;
    let guard_ok = guard.is_ok();
    let guard = guard.unwrap_or_else(|c| c);
    if table {
        println!(
            "\n{}",
            checklist::render(std::slice::from_ref(&guard), style)
        );
    }
    report.guard = Some(guard);
    if !guard_ok {
        return finish(global, report.finish(), table);
    }

    let since = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    let update = cluster_update::apply(
        &cloud.cs,
        &cluster_id,
        UpdateKmsEncryption::disable(),
        &wait,
        !table,
    )
    .await?;
    if table {
        println!(
            "{}",
            checklist::render(std::slice::from_ref(&update.check), style)
        );
    }
    let applied = update.applied();
    report.update = Some(update);
    if applied {
        let verification = verify::verification(
            Ok(&client),
            Ok(&cloud.actiontrail),
            Expect::NotKms,
            since,
            &verify_options,
        )
        .await;
        if table {
            println!(
                "verification:\n{}",
                checklist::render(&verification.checks, style)
            );
        }
        report.verification = Some(verification);
        report.remaining = remaining(report.preflight.key_id.as_deref().or(key.as_deref()));
    }
    finish(global, report.finish(), table)
}

/// The key must be usable: the apiserver needs it to read, and so to rewrite, every Secret still
/// encrypted with it.
fn key_usable(key: &str, found: &preflight::KeyChecks) -> Check {
    const NAME: &str = "key-usable";
    match &found.meta {
        Some(meta) if found.usable() => Check::pass(
            NAME,
            format!("{} is Enabled: the apiserver can read the Secrets it encrypted", meta.key_id),
        ),
        Some(meta) => Check::fail(
            NAME,
            format!(
                "{} is {}: the apiserver cannot read the Secrets encrypted with it, so they could not be moved off KMS",
                meta.key_id, meta.key_state
            ),
        )
        .fix(format!(
            "make the key usable first: {}",
            secretkms_model::fix_commands::enable_key(&meta.key_id)
        )),
        None => Check::fail(NAME, format!("key {key} not found: the Secrets encrypted with it cannot be read"))
            .fix("pass the key Secrets are encrypted with as --key"),
    }
}

/// How many Secrets exist, and how many are stored with KMS where etcd can be read.
async fn existing_secrets(client: &Client, options: &VerifyOptions) -> Check {
    const NAME: &str = "existing-secrets";
    if !options.etcd.etcd_endpoints.is_empty() {
        return match options.etcd.count().await {
            Ok(counts) => {
                let kms: u64 = counts
                    .envelopes
                    .iter()
                    .filter(|e| e.envelope.provider.starts_with("kms-"))
                    .map(|e| e.count)
                    .sum();
                Check::info(
                    NAME,
                    format!(
                        "{kms} of {} stored Secrets are encrypted with KMS and stay so until rewritten",
                        counts.total
                    ),
                )
            }
            Err(e) => Check::unchecked(NAME, format!("{e:#}")),
        };
    }
    match count(Api::<Secret>::all(client.clone())).await {
        Ok(n) => Check::info(
            NAME,
            format!(
                "{n} Secrets; those written while KMS was on stay encrypted with it until rewritten (pass --etcd-endpoints to count them)"
            ),
        ),
        Err(e) => Check::unchecked(NAME, format!("{e:#}")),
    }
}

/// What is left once the cluster writes without KMS.
pub fn remaining(key: Option<&str>) -> Vec<String> {
    let key = key.unwrap_or("the key");
    vec![
        "move existing Secrets off KMS: kubectl secretkms rewrite -A (each rewrite stores the Secret with the provider now first)".into(),
        format!("keep {key} enabled, and never schedule its deletion, until the rewrite is done: the apiserver still needs it to read those Secrets"),
        "then delete the guard's declaration: kubectl delete secretencryption cluster (it stays in audit until then)".into(),
    ]
}

fn finish(global: &GlobalArgs, report: DisableReport, table: bool) -> anyhow::Result<Exit> {
    if table {
        if !report.remaining.is_empty() {
            println!("remaining:");
            for step in &report.remaining {
                println!("  - {step}");
            }
        }
        println!("result: {}", global.output.style().level(report.result, 0));
    } else {
        global.output.print_structured(&report)?;
    }
    Ok(Exit::findings_if(report.result == Level::Fail))
}
