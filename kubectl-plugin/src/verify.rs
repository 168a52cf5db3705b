//! `kubectl secretkms verify`: ACK's "check the result" of Secret encryption on its own, and the
//! verification `enable` and `disable` end with. Three independent checks, each reporting its
//! own error: the apiserver's KMS health, a canary Secret written now and the provider that
//! wrote it, and ActionTrail's Encrypt/Decrypt calls by `AliyunCSManagedSecurityRole` since a
//! time, with their counts and times.

mod canary;
mod health;
mod trail;

use std::time::Duration;

use clap::Args;
use kube::Client;
use secretkms_alibaba::actiontrail::ActionTrailClient;
use secretkms_model::ApiserverFacts;
use serde::Serialize;
use time::OffsetDateTime;

pub use canary::CanaryWrite;
pub use secretkms_core::secret_writers::CanarySecret;
pub use trail::TrailSummary;

use crate::checklist::{self, Check};
use crate::cli::GlobalArgs;
use crate::cloud_access::CloudArgs;
use crate::exit::Exit;
use crate::kms_access;
use crate::output::{Level, Style};
use crate::status::EtcdArgs;

/// The flags every verification takes (`verify`, `enable`, `disable`).
#[derive(Debug, Clone, Args)]
pub struct VerifyOptions {
    /// The canary Secret written to see which provider writes (created empty when missing), in
    /// a namespace the guard never guards.
    #[arg(
        long,
        value_name = "NAMESPACE/NAME",
        default_value = "kube-system/secretkms-verify-canary"
    )]
    pub canary: CanarySecret,
    /// How long to wait for ActionTrail to show the role's KMS calls (it lags by minutes).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = secretkms_alibaba::duration::parse)]
    pub trail_timeout: Duration,
    /// How often to ask ActionTrail while waiting.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = secretkms_alibaba::duration::parse)]
    pub trail_interval: Duration,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms verify --region cn-hangzhou
  kubectl secretkms verify --since 2026-12-01T10:00:00Z -o json
  kubectl secretkms verify --since 30m --trail-timeout 0s")]
pub struct VerifyArgs {
    /// Count ActionTrail events since TIME: RFC 3339, or a duration ago (`30m`, `2h`).
    #[arg(long, value_name = "TIME", default_value = "1h")]
    pub since: String,
    /// The cluster's region, where ActionTrail is asked (default: the SecretEncryption's).
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    pub verify: VerifyOptions,
    #[command(flatten)]
    pub cloud: CloudArgs,
}

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<ApiserverFacts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryWrite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actiontrail: Option<TrailSummary>,
}

/// What should be true now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Encryption on: KMS healthy, the canary through KMS, the role calling KMS (waited for).
    Kms,
    /// Encryption off: the canary not through KMS; the role's calls only reported.
    NotKms,
}

/// Verifies the cluster (`kube`, or why there is none) and ActionTrail (`trail`, or why not).
pub async fn verification(
    kube: Result<&Client, &str>,
    trail: Result<&ActionTrailClient, &str>,
    expect: Expect,
    since: OffsetDateTime,
    options: &VerifyOptions,
) -> Verification {
    let expect_kms = expect == Expect::Kms;
    let mut out = Verification::default();
    match kube {
        Ok(client) => {
            let (check, facts) = health::check(client, expect_kms).await;
            out.checks.push(check);
            out.health = facts;
            match canary::write(client, &options.canary, &options.etcd).await {
                Ok(write) => {
                    out.checks.push(canary::judge(&write, expect_kms));
                    out.canary = Some(write);
                }
                Err(e) => out.checks.push(Check::unchecked("canary", e)),
            }
        }
        Err(reason) => {
            out.checks.push(Check::unchecked("kms-health", reason));
            out.checks.push(Check::unchecked("canary", reason));
        }
    }
    let (check, summary) = match (trail, expect) {
        (Ok(trail), Expect::Kms) => {
            trail::wait_for_calls(trail, since, options.trail_timeout, options.trail_interval).await
        }
        (Ok(client), Expect::NotKms) => match trail::lookup(client, since).await {
            Ok(s) => (trail::judge(&s, false, Duration::ZERO), Some(s)),
            Err(e) => (Check::unchecked("actiontrail", e), None),
        },
        (Err(reason), _) => (Check::unchecked("actiontrail", reason), None),
    };
    out.checks.push(check);
    out.actiontrail = summary;
    out
}

/// `-o json|yaml` of `verify`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyReport {
    pub kind: &'static str,
    pub since: String,
    #[serde(flatten)]
    pub verification: Verification,
    pub result: Level,
}

/// `--since`: RFC 3339, or a duration before `now`.
pub fn parse_since(text: &str, now: OffsetDateTime) -> anyhow::Result<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Ok(at);
    }
    let ago = secretkms_alibaba::duration::parse(text).map_err(|e| {
        anyhow::anyhow!("--since {text:?} is neither an RFC 3339 time nor a duration: {e}")
    })?;
    Ok(now - ago)
}

pub async fn run(global: &GlobalArgs, args: VerifyArgs) -> anyhow::Result<Exit> {
    let VerifyArgs {
        since,
        region,
        verify,
        cloud,
    } = args;
    let since = parse_since(&since, OffsetDateTime::now_utc())?;
    let kube = global.kube.client(true).await.map(|(c, _)| c);
    let kube_error = kube.as_ref().err().map(|e| format!("{e:#}"));
    let declared = match &kube {
        Ok(client) => kms_access::declared(client).await.unwrap_or(None),
        Err(_) => None,
    };
    let region = region.or_else(|| declared.and_then(|d| d.region));
    let cloud = match &region {
        Some(r) => Some(cloud.connect(r)?),
        None => None,
    };
    let verification = verification(
        kube.as_ref()
            .map_err(|_| kube_error.as_deref().unwrap_or_default()),
        cloud
            .as_ref()
            .map(|c| &c.actiontrail)
            .ok_or("no region for ActionTrail: pass --region"),
        Expect::Kms,
        since,
        &verify,
    )
    .await;
    let report = VerifyReport {
        kind: "Verify",
        since: secretkms_alibaba::openapi::signature::format_timestamp(since),
        result: checklist::result(&verification.checks),
        verification,
    };
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report, global.output.style()));
    }
    Ok(Exit::findings_if(report.result == Level::Fail))
}

pub fn render(report: &VerifyReport, style: Style) -> String {
    let mut out = format!("verify since {}\n", report.since);
    out.push_str(&checklist::render(&report.verification.checks, style));
    out.push_str(&format!("\nresult: {}\n", style.level(report.result, 0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_time_or_a_duration_ago() {
        let now = OffsetDateTime::from_unix_timestamp(10_000).unwrap();
        assert_eq!(
            parse_since("30m", now).unwrap(),
            OffsetDateTime::from_unix_timestamp(10_000 - 1800).unwrap()
        );
        assert_eq!(
            parse_since("1970-01-01T00:00:10Z", now).unwrap(),
            OffsetDateTime::from_unix_timestamp(10).unwrap()
        );
        assert!(parse_since("yesterday", now).is_err());
    }
}
