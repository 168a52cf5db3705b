//! `kubectl secretkms rewrite`: re-encrypt every Secret after a key rotation, the way ACK
//! documents it (annotate `encryption-key-rotation-time=TIME`) but paged, metadata-only,
//! throttled, resumable and with a report.

mod progress;
mod rate_limiter;
mod sweep;
mod timing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::Serialize;
use time::OffsetDateTime;

pub use progress::Progress;
pub use rate_limiter::TokenBucket;
pub use sweep::{FIELD_MANAGER, FailedSecret, Mode, Plan, Tally, retryable, sweep};
pub use timing::{current_key_id_hashes, key_id_hash, safe_after};

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::kms_access::{self, KeyTarget, KmsArgs};
use crate::kube_args::Scope;
use crate::output::Format;
use crate::rotation_time::{self, ANNOTATION};

/// The default price per 10,000 KMS calls: AWS KMS's published $0.03 (kubectl-plugin.md §2.5).
/// Alibaba Cloud bills API calls per 10,000 too; pass your own price list's figure.
pub const DEFAULT_PRICE_PER_10K: f64 = 0.03;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  # after the key rotated: annotate every Secret with the key's last rotation time
  kubectl secretkms rewrite -A
  # what would it do, and what would it cost with KMS v1?
  kubectl secretkms rewrite -A --dry-run --kms-api v1 --price-per-10k 0.06
  # KMS v2 only: let the apiserver rewrite exactly the stale Secrets
  kubectl secretkms rewrite -A --mode stale-only --time 20260101-000000")]
pub struct RewriteArgs {
    /// The annotation value; default: the key's LastRotationDate (else its CreationDate) from
    /// KMS, as `20220101-010101`.
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// The key whose rotation time to use (id, alias or ARN); default: the SecretEncryption's.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// The key's region, when neither the SecretEncryption nor an ARN names it.
    #[arg(long)]
    pub region: Option<String>,
    #[command(flatten)]
    pub kms: KmsArgs,
    /// `annotate` patches the annotation (works with KMS v1 and v2); `stale-only` sends
    /// server-side-apply no-ops that rewrite only what the apiserver reads as stale (KMS v2).
    #[arg(long, value_enum, default_value_t = Mode::Annotate)]
    pub mode: Mode,
    /// Patches in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Requests per second to the apiserver (0 = unlimited).
    #[arg(long, default_value_t = 50.0)]
    pub qps: f64,
    /// Requests allowed in a burst above --qps.
    #[arg(long, default_value_t = 100)]
    pub burst: u32,
    /// Secrets per listing page.
    #[arg(long, default_value_t = 500)]
    pub chunk_size: u32,
    /// Attempts per request on 409, 429, 5xx and transport errors.
    #[arg(long, default_value_t = 8)]
    pub max_attempts: u32,
    /// Count what would be patched, and the KMS calls and cost; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The apiserver's KMS API version, for the dry run's KMS call count (v1: one Encrypt per
    /// write; v2: none per write).
    #[arg(long, value_enum, default_value_t = KmsApi::V2)]
    pub kms_api: KmsApi,
    /// Price per 10,000 KMS calls, for the dry run's cost (default: AWS's published 0.03).
    #[arg(long, default_value_t = DEFAULT_PRICE_PER_10K)]
    pub price_per_10k: f64,
    /// Wait until the apiserver can be using the new key id, instead of only warning.
    #[arg(long)]
    pub wait: bool,
    /// N in the 3 + N + 5 minutes rule: how long the KMS plugin takes to notice a rotation.
    #[arg(long, default_value = "1m", value_parser = secretkms_alibaba::duration::parse)]
    pub plugin_pickup: Duration,
    /// The KMS v2 plugin's new key_id: start as soon as every apiserver's key_id_hash metric
    /// reports it (needs `get` on /metrics).
    #[arg(long, value_name = "KEY_ID")]
    pub expect_key_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KmsApi {
    V1,
    V2,
}

/// The dry run's estimate of KMS calls.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KmsCost {
    pub kms_api: KmsApi,
    pub calls: u64,
    pub price_per_10k: f64,
    pub cost: f64,
}

/// The final report; `-o json|yaml` prints it as is.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub kind: &'static str,
    pub mode: Mode,
    pub annotation: &'static str,
    pub time: String,
    /// `all` or the namespace.
    pub scope: String,
    pub dry_run: bool,
    #[serde(flatten)]
    pub tally: Tally,
    pub failed_secrets: Vec<FailedSecret>,
    pub duration_seconds: f64,
    pub secrets_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsCost>,
}

pub async fn run(global: &GlobalArgs, args: RewriteArgs) -> anyhow::Result<Exit> {
    let RewriteArgs {
        time,
        key,
        region,
        kms,
        mode,
        concurrency,
        qps,
        burst,
        chunk_size,
        max_attempts,
        dry_run,
        kms_api,
        price_per_10k,
        wait,
        plugin_pickup,
        expect_key_id,
    } = args;
    anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1, got 0");
    anyhow::ensure!(
        (1..=10_000).contains(&chunk_size),
        "--chunk-size must be 1..=10000, got {chunk_size}"
    );
    let (client, namespace) = global.kube.client(false).await?;
    let time = match time {
        Some(t) if t.trim().is_empty() => anyhow::bail!("--time must not be empty"),
        Some(t) => t,
        None if mode == Mode::StaleOnly => String::new(),
        None => rotation_time_from_kms(&client, key, region, &kms).await?,
    };

    if !dry_run {
        guard_timing(
            &client,
            &time,
            plugin_pickup,
            expect_key_id.as_deref(),
            wait,
        )
        .await?;
    }

    let scope = global.kube.scope(&namespace);
    let plan = Plan {
        scope: scope.clone(),
        selector: global.kube.selector.clone(),
        mode,
        time: time.clone(),
        chunk_size,
        concurrency,
        max_attempts: max_attempts.max(1),
        dry_run,
    };
    let quiet = global.output.output != Format::Table
        && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = Progress::for_stderr(quiet);
    let started = Instant::now();
    let (tally, failed_secrets) = sweep(
        &client,
        &plan,
        Arc::new(TokenBucket::new(qps, burst)),
        &progress,
    )
    .await?;
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let handled = tally.patched
        + tally.already_current
        + tally.not_found
        + tally.conflicts
        + tally.would_patch;
    let kms = dry_run.then(|| {
        let calls = match kms_api {
            KmsApi::V1 => tally.would_patch,
            KmsApi::V2 => 0,
        };
        KmsCost {
            kms_api,
            calls,
            price_per_10k,
            cost: calls as f64 / 10_000.0 * price_per_10k,
        }
    });
    let report = Report {
        kind: "RewriteReport",
        mode,
        annotation: ANNOTATION,
        time,
        scope: match scope {
            Scope::All => "all".into(),
            Scope::Namespace(ns) => ns,
        },
        dry_run,
        tally,
        failed_secrets,
        duration_seconds: (elapsed * 1000.0).round() / 1000.0,
        secrets_per_second: (handled as f64 / elapsed.max(0.001)).round(),
        kms,
    };
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report));
    }
    Ok(Exit::findings_if(report.tally.failed > 0))
}

/// TIME from the key's rotation history.
async fn rotation_time_from_kms(
    client: &kube::Client,
    key: Option<String>,
    region: Option<String>,
    kms: &KmsArgs,
) -> anyhow::Result<String> {
    let declared = kms_access::declared(client).await?;
    let target = KeyTarget::resolve(key, region, declared.as_ref())
        .context("no key to take the rotation time from: pass --time, --key, or declare a SecretEncryption named cluster")?;
    let key = &target.key;
    let meta = target
        .client(kms)?
        .describe_key(key)
        .await
        .with_context(|| format!("cannot describe key {key} (pass --time to skip KMS)"))?
        .key_metadata;
    let date = meta
        .last_rotation_date
        .filter(|d| !d.is_empty())
        .unwrap_or(meta.creation_date);
    rotation_time::from_kms_date(&date).map_err(anyhow::Error::msg)
}

/// Warns, or with `wait` sleeps, while the apiserver may still write with the old key id.
async fn guard_timing(
    client: &kube::Client,
    time: &str,
    pickup: Duration,
    expect_key_id: Option<&str>,
    wait: bool,
) -> anyhow::Result<()> {
    let Some(rotated) = rotation_time::parse_compact(time) else {
        return Ok(());
    };
    let ready_at = safe_after(rotated, pickup);
    loop {
        if let Some(key_id) = expect_key_id {
            let want = key_id_hash(key_id);
            match metrics(client).await {
                Ok(text) => {
                    let hashes = current_key_id_hashes(&text);
                    if !hashes.is_empty() && hashes.iter().all(|(_, h)| *h == want) {
                        eprintln!("the apiserver reports the new key id ({want}); starting");
                        return Ok(());
                    }
                    if wait {
                        eprintln!("waiting: the apiserver does not report key id hash {want} yet");
                        tokio::time::sleep(Duration::from_secs(15)).await;
                        continue;
                    }
                }
                Err(e) => {
                    eprintln!("warning: cannot read the apiserver's key_id_hash metrics: {e:#}")
                }
            }
        }
        let now = OffsetDateTime::now_utc();
        if now >= ready_at {
            return Ok(());
        }
        let left = Duration::try_from(ready_at - now).unwrap_or_default();
        if !wait {
            eprintln!(
                "warning: the key rotated at {time}; the apiserver may keep writing with the old key until {} (3 + N + 5 minutes, N = {}s). Secrets rewritten before then may stay on the old key: re-run afterwards, or pass --wait",
                rotation_time::compact(ready_at),
                pickup.as_secs()
            );
            return Ok(());
        }
        eprintln!(
            "waiting {}s (3 + N + 5 minutes after the rotation at {time})",
            left.as_secs()
        );
        tokio::time::sleep(if expect_key_id.is_some() {
            left.min(Duration::from_secs(15))
        } else {
            left
        })
        .await;
    }
}

async fn metrics(client: &kube::Client) -> anyhow::Result<String> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    Ok(client.request_text(req).await?)
}

/// The human form of the report.
pub fn render(r: &Report) -> String {
    let t = &r.tally;
    let scope = if r.scope == "all" {
        "all namespaces".to_string()
    } else {
        format!("namespace {}", r.scope)
    };
    let what = match r.mode {
        Mode::Annotate => format!("annotate {}={}", r.annotation, r.time),
        Mode::StaleOnly => "stale-only (server-side apply no-ops)".to_string(),
    };
    let mut out = format!(
        "{}rewrite: {what}, {scope}\n",
        if r.dry_run { "DRY RUN " } else { "" }
    );
    let mut line = |label: &str, value: String| out.push_str(&format!("  {label:<18}{value}\n"));
    line("listed", t.listed.to_string());
    if r.mode == Mode::Annotate {
        line("already current", t.already_current.to_string());
    }
    if r.dry_run {
        line("would patch", t.would_patch.to_string());
    } else {
        line("patched", t.patched.to_string());
        if r.mode == Mode::StaleOnly {
            line("rewritten (stale)", t.rewritten.to_string());
            line("changed meanwhile", t.conflicts.to_string());
        }
        line("deleted meanwhile", t.not_found.to_string());
        line("failed", t.failed.to_string());
        line("retries", t.retries.to_string());
        line("expired listings", t.expired_continues.to_string());
    }
    line(
        "duration",
        format!("{:.1}s ({}/s)", r.duration_seconds, r.secrets_per_second),
    );
    if let Some(k) = &r.kms {
        line(
            "kms calls",
            format!(
                "{} (KMS {}; {})",
                k.calls,
                match k.kms_api {
                    KmsApi::V1 => "v1",
                    KmsApi::V2 => "v2",
                },
                match k.kms_api {
                    KmsApi::V1 => "one Encrypt per written Secret",
                    KmsApi::V2 => "none per write: the apiserver reuses its DEK seed",
                }
            ),
        );
        line(
            "cost",
            format!("{:.4} at {} per 10,000 calls", k.cost, k.price_per_10k),
        );
    }
    for f in &r.failed_secrets {
        out.push_str(&format!(
            "  failed: {}/{}: {}\n",
            f.namespace, f.name, f.error
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_reads_as_a_summary() {
        let report = Report {
            kind: "RewriteReport",
            mode: Mode::Annotate,
            annotation: ANNOTATION,
            time: "20260101-000000".into(),
            scope: "all".into(),
            dry_run: true,
            tally: Tally {
                listed: 30_000,
                already_current: 10_000,
                would_patch: 20_000,
                ..Default::default()
            },
            failed_secrets: vec![],
            duration_seconds: 2.0,
            secrets_per_second: 15_000.0,
            kms: Some(KmsCost {
                kms_api: KmsApi::V1,
                calls: 20_000,
                price_per_10k: 0.03,
                cost: 0.06,
            }),
        };
        let text = render(&report);
        assert!(text.starts_with(
            "DRY RUN rewrite: annotate encryption-key-rotation-time=20260101-000000, all namespaces\n"
        ));
        assert!(text.contains("  would patch       20000\n"), "{text}");
        assert!(
            text.contains("  kms calls         20000 (KMS v1; one Encrypt per written Secret)\n")
        );
        assert!(text.contains("  cost              0.0600 at 0.03 per 10,000 calls\n"));
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["wouldPatch"], 20_000);
        assert_eq!(json["kms"]["calls"], 20_000);
    }
}
