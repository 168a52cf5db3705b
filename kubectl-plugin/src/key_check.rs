//! `kubectl secretkms key check KEY`: every ACK prerequisite of a Secret-encryption key as a
//! checklist (pass / info / warn / fail), each with the command that fixes it. The facts come
//! from one DescribeKey plus an Encrypt/Decrypt round trip with the caller's own credentials,
//! found exactly as the webhook finds them; the checks on them are the judge's
//! (`secretkms_core::judgement::key_checks`), the same `status` shows. With `--cluster-id`, the
//! RAM and ACK prerequisites of the preflight too ([`crate::preflight`]), each saying when it
//! could not be checked and why.

use anyhow::Context as _;
use clap::Args;
use secretkms_core::judgement;
use secretkms_model::Declared;
use serde::Serialize;

use crate::checklist;
use crate::cli::GlobalArgs;
use crate::cloud_access::CloudArgs;
use crate::exit::Exit;
use crate::kms_access::{self, KeyTarget, KmsArgs};
use crate::output::{Level, Style};
use crate::preflight::{self, Scope};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms key check alias/k8s-secrets --region cn-hangzhou
  kubectl secretkms key check acs:kms:cn-hangzhou:123456789:key/key-abc -o json
  kubectl secretkms key check alias/k8s-secrets --region cn-hangzhou --cluster-id c0123456789")]
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
    /// Also check the RAM and ACK prerequisites of encrypting this ACK cluster's Secrets.
    #[arg(long, value_name = "ID")]
    pub cluster_id: Option<String>,
    #[command(flatten)]
    pub kms: KmsArgs,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

pub use crate::checklist::Check;

/// `-o json|yaml`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyCheckReport {
    pub kind: &'static str,
    pub key: String,
    pub key_id: Option<String>,
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
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
        cluster_id,
        kms,
        cloud,
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

    let found = preflight::key_checks(
        &client,
        &key,
        region.as_deref(),
        &required_key_spec,
        !no_round_trip,
    )
    .await?;
    let mut checks = found.checks;
    let key_region = found.facts.as_ref().and_then(|f| f.region.clone());
    if let Some(cluster_id) = &cluster_id {
        match region.clone().or_else(|| key_region.clone()) {
            Some(r) => {
                let cloud = cloud.connect(&r)?;
                let kube = Err("not needed");
                checks.extend(
                    preflight::cloud_checks(&cloud, cluster_id, kube, Scope::Prerequisites)
                        .await
                        .checks,
                );
            }
            None => checks.push(Check::unchecked(
                "cluster",
                format!("no region for cluster {cluster_id}: pass --region"),
            )),
        }
    }
    let result = checklist::result(&checks);
    let report = KeyCheckReport {
        kind: "KeyCheck",
        key: key.clone(),
        key_id: found.meta.as_ref().map(|m| m.key_id.clone()),
        region: key_region,
        cluster_id,
        checks,
        result,
    };
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report, global.output.style()));
    }
    Ok(Exit::findings_if(result == Level::Fail))
}

/// The human checklist.
pub fn render(report: &KeyCheckReport, style: Style) -> String {
    let mut out = format!(
        "key {}{}{}\n",
        report.key,
        match (&report.key_id, &report.region) {
            (Some(id), Some(r)) if *id != report.key => format!(" ({id}, {r})"),
            (_, Some(r)) => format!(" ({r})"),
            _ => String::new(),
        },
        match &report.cluster_id {
            Some(id) => format!(" for cluster {id}"),
            None => String::new(),
        }
    );
    out.push_str(&checklist::render(&report.checks, style));
    out.push_str(&format!("\nresult: {}\n", style.level(report.result, 0)));
    out
}
