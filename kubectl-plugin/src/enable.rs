//! `kubectl secretkms enable --cluster-id ID --key KEY`: ACK's documented flow for turning on
//! Secret encryption with a KMS key, in one command — the preflight checklist, then (unless
//! `--dry-run` or a failed check; `--force` passes warnings, never failures) UpdateKMSEncryption,
//! the wait while the cluster is `updating`, and the verification: KMS health, a canary written
//! through KMS, ActionTrail showing the role's calls, and the SecretEncryption that makes the
//! webhook guard from then on.

use clap::Args;
use secretkms_alibaba::cs::UpdateKmsEncryption;
use serde::Serialize;
use time::OffsetDateTime;

use crate::checklist::{self, Check};
use crate::cli::GlobalArgs;
use crate::cloud_access::CloudArgs;
use crate::cluster_update::{self, Update, WaitArgs};
use crate::exit::Exit;
use crate::guard::{self, Declare};
use crate::kms_access::{KeyTarget, KmsArgs};
use crate::kms_price;
use crate::output::{Format, Level, Style};
use crate::preflight::{self, PreflightReport, Scope};
use crate::verify::{self, Expect, Verification, VerifyOptions};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms enable --cluster-id c0123456789 --key alias/k8s-secrets --region cn-hangzhou --dry-run
  kubectl secretkms enable --cluster-id c0123456789 --key key-abc --region cn-hangzhou
  kubectl secretkms enable --cluster-id c0123456789 --key key-abc --region cn-hangzhou --force -o json")]
pub struct EnableArgs {
    /// The ACK cluster's id.
    #[arg(long, value_name = "ID")]
    pub cluster_id: String,
    /// The KMS key: id, alias (`alias/...`) or ARN.
    #[arg(long)]
    pub key: String,
    /// The cluster's region (default: the key ARN's).
    #[arg(long)]
    pub region: Option<String>,
    /// Run the preflight only; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go ahead despite warnings (failures always stop the change).
    #[arg(long)]
    pub force: bool,
    /// Price per 10,000 KMS calls, for the cost estimate (default: Alibaba Cloud's published
    /// price for the key's region and key spec).
    #[arg(long, value_name = "PRICE")]
    pub price_per_10k: Option<f64>,
    #[command(flatten)]
    pub wait: WaitArgs,
    #[command(flatten)]
    pub verify: VerifyOptions,
    #[command(flatten)]
    pub kms: KmsArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// `-o json|yaml` of `enable`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnableReport {
    pub kind: &'static str,
    pub preflight: PreflightReport,
    /// Why nothing was changed, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guard: Option<Check>,
    /// The worst level of every step (info counts as pass).
    pub result: Level,
}

impl EnableReport {
    fn finish(mut self) -> Self {
        let mut all = self.preflight.checks.clone();
        all.extend(self.update.iter().map(|u| u.check.clone()));
        all.extend(self.verification.iter().flat_map(|v| v.checks.clone()));
        all.extend(self.guard.clone());
        self.result = checklist::result(&all);
        self
    }
}

pub async fn run(global: &GlobalArgs, args: EnableArgs) -> anyhow::Result<Exit> {
    let EnableArgs {
        cluster_id,
        key,
        region,
        dry_run,
        force,
        price_per_10k,
        wait,
        verify: verify_options,
        kms,
        cloud,
    } = args;
    let table = global.output.output == Format::Table;
    let style = global.output.style();
    let kube = global.kube.client(true).await.map(|(c, _)| c);
    let kube_error = kube.as_ref().err().map(|e| format!("{e:#}"));
    let kube_ref = kube
        .as_ref()
        .map_err(|_| kube_error.as_deref().unwrap_or_default());

    let target =
        KeyTarget::resolve(Some(key.clone()), region.clone(), None).expect("a key was given");
    let kms_client = target.client(&kms)?;
    let found = preflight::key_checks(
        &kms_client,
        &key,
        region.as_deref(),
        secretkms_model::defaults::KEY_SPEC,
        true,
    )
    .await?;
    let key_region = found.facts.as_ref().and_then(|f| f.region.clone());
    let Some(region) = region.or(key_region) else {
        anyhow::bail!("cannot tell cluster {cluster_id}'s region: pass --region");
    };
    let cloud = cloud.connect(&region)?;
    let key_id = found.meta.as_ref().map(|m| m.key_id.clone());
    let mut checks = found.checks;
    let price = kms_price::for_key(price_per_10k, found.meta.as_ref());
    let cloud_checks =
        preflight::cloud_checks(&cloud, &cluster_id, kube_ref, Scope::Full { price }).await;
    checks.extend(cloud_checks.checks);
    let preflight = PreflightReport::new(
        &cluster_id,
        &key,
        key_id.clone(),
        &region,
        checks,
        cloud_checks.estimate,
    );
    if table {
        print!("{}", render_preflight(&preflight, style));
    }
    let mut report = EnableReport {
        kind: "Enable",
        skipped: None,
        update: None,
        verification: None,
        guard: None,
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
    } else if key_id.is_none() {
        Some("the key was not found".to_string())
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
    let key_id = key_id.expect("checked above");

    // ActionTrail stamps whole seconds, and clocks differ a little: look from a bit before.
    let since = OffsetDateTime::now_utc() - time::Duration::seconds(30);
    let update = cluster_update::apply(
        &cloud.cs,
        &cluster_id,
        UpdateKmsEncryption::enable(key_id.clone()),
        &wait,
        !table,
    )
    .await?;
    if table {
        println!(
            "\n{}",
            checklist::render(std::slice::from_ref(&update.check), style)
        );
    }
    let applied = update.applied();
    report.update = Some(update);
    if !applied {
        return finish(global, report.finish(), table);
    }

    let verification = verify::verification(
        kube_ref,
        Ok(&cloud.actiontrail),
        Expect::Kms,
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
    let guard = match kube_ref {
        Ok(client) => {
            guard::enforce(
                client,
                &Declare {
                    key: key_id,
                    region,
                    endpoint: kms.kms_endpoint.as_ref().map(endpoint_text),
                },
            )
            .await
        }
        Err(reason) => Check::unchecked("guard", reason),
    };
    if table {
        println!("{}", checklist::render(std::slice::from_ref(&guard), style));
    }
    report.guard = Some(guard);
    finish(global, report.finish(), table)
}

/// The endpoint as the SecretEncryption spells it.
pub fn endpoint_text(endpoint: &secretkms_alibaba::kms::Endpoint) -> String {
    use secretkms_alibaba::kms::Endpoint;
    match endpoint {
        Endpoint::Public { region } => format!("public:{region}"),
        Endpoint::Vpc { region } => format!("vpc:{region}"),
        Endpoint::Custom(url) => url.to_string().trim_end_matches('/').to_string(),
    }
}

fn finish(global: &GlobalArgs, report: EnableReport, table: bool) -> anyhow::Result<Exit> {
    if table {
        println!("result: {}", global.output.style().level(report.result, 0));
    } else {
        global.output.print_structured(&report)?;
    }
    Ok(Exit::findings_if(report.result == Level::Fail))
}

/// The preflight as a table.
pub fn render_preflight(report: &PreflightReport, style: Style) -> String {
    format!(
        "preflight: cluster {} ({}), key {}{}\n{}",
        report.cluster_id,
        report.region,
        report.key,
        match &report.key_id {
            Some(id) if *id != report.key => format!(" ({id})"),
            _ => String::new(),
        },
        checklist::render(&report.checks, style)
    )
}
