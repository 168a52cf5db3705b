//! `kubectl secretkms rewrite`: re-encrypt every Secret after a key rotation, the way ACK
//! documents it (annotate `encryption-key-rotation-time=TIME`) but paged, metadata-only,
//! adaptively paced, resumable and with a report.

mod adaptive;
mod apf_signals;
mod progress;
mod rate_limiter;
pub mod storage_migration;
mod sweep;
mod timing;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde::Serialize;
use time::OffsetDateTime;

pub use adaptive::{Adaptive, Figures, Outcome, Permit};
pub use apf_signals::{ApfSignalsLayer, Classification};
pub use progress::Progress;
pub use rate_limiter::TokenBucket;
pub use sweep::{FIELD_MANAGER, FailedSecret, Mode, Plan, Tally, retryable, sweep};
pub use timing::safe_after;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use secretkms_alibaba::kms::KeyMetadata;
use secretkms_core::kms_facts;
use secretkms_core::rotation_reach::{KeyKnowledge, Moves, Reach};

use crate::kms_access::{self, KeyTarget, KmsArgs};
use crate::kms_price::{self, Price};
use crate::kube_args::{KubeArgs, Scope};
use crate::object_count;
use crate::output::Format;
use crate::rotation_evidence::{self, ApiserverArgs, ReachReport};
use crate::rotation_time::{self, ANNOTATION};
use storage_migration::MigrationReport;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  # after the key rotated: annotate every Secret with the key's last rotation time
  kubectl secretkms rewrite -A
  # what would it do, and what would it cost? (the KMS API is read from the apiserver)
  kubectl secretkms rewrite -A --dry-run
  # ... at your own negotiated price instead of Alibaba Cloud's published one
  kubectl secretkms rewrite -A --dry-run --price-per-10k 0.06
  # two apiservers behind a load balancer: check that both adopted the new key_id
  kubectl secretkms rewrite -A --wait --apiserver https://10.0.0.1:6443 --apiserver https://10.0.0.2:6443
  # hard caps instead of the adaptive defaults' ceiling: at most 20 in flight, 100 requests/s
  kubectl secretkms rewrite -A --concurrency 20 --qps 100
  # KMS v2 only: let the apiserver rewrite exactly the stale Secrets
  kubectl secretkms rewrite -A --mode stale-only --time 20260101-000000
  # the same, done server-side by kube-controller-manager's StorageVersionMigrator
  kubectl secretkms rewrite -A --via storage-version-migration")]
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
    /// `annotate` (the default) patches the annotation (works with KMS v1 and v2);
    /// `stale-only` sends server-side-apply no-ops that rewrite only what the apiserver reads as
    /// stale (KMS v2).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Who sends the writes: `plugin` (this command, paced and resumable) or
    /// `storage-version-migration` (a StorageVersionMigration of secrets, carried out by the
    /// kube-controller-manager's StorageVersionMigrator: the stale-only rewrite server-side,
    /// for the whole cluster; needs `-A`).
    #[arg(long, value_enum, default_value_t = Via::Plugin)]
    pub via: Via,
    /// With `--via storage-version-migration`: how long to wait for a controller to take the
    /// migration up before deleting it and giving up.
    #[arg(long, default_value = "60s", value_parser = secretkms_alibaba::duration::parse)]
    pub migration_controller_timeout: Duration,
    /// The most patches in flight. The rewrite starts at 8 and adapts below this ceiling to
    /// what the apiserver sustains: one more per round while latency stays under twice its
    /// baseline, a quarter less when it does not, half on 429 or 5xx, and no new request during
    /// a Retry-After.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Keep exactly --concurrency patches in flight instead of adapting (Retry-After still
    /// pauses).
    #[arg(long)]
    pub fixed_concurrency: bool,
    /// A hard cap on requests per second to the apiserver (0 = none; the adaptive window
    /// paces the rewrite).
    #[arg(long, default_value_t = 0.0)]
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
    /// write; v2: none per write); default: what the apiserver's metrics say writes Secrets.
    #[arg(long, value_enum)]
    pub kms_api: Option<KmsApi>,
    /// Price in USD per 10,000 KMS calls, for the dry run's cost (default: Alibaba Cloud's
    /// published price for the key's region and key spec).
    #[arg(long, value_name = "USD")]
    pub price_per_10k: Option<f64>,
    /// Wait until the apiserver can be using the new key id, instead of only warning.
    #[arg(long)]
    pub wait: bool,
    /// N in the 3 + N + 5 minutes rule: how long the KMS plugin takes to notice a rotation.
    #[arg(long, default_value = "1m", value_parser = secretkms_alibaba::duration::parse)]
    pub plugin_pickup: Duration,
    /// The KMS v2 plugin's new key_id: start as soon as every apiserver's key_id_hash metric
    /// reports it (needs `get` on /metrics); default: `<CMK id>/<primary version>` from KMS.
    #[arg(long, value_name = "KEY_ID")]
    pub expect_key_id: Option<String>,
    #[command(flatten)]
    pub apiservers: ApiserverArgs,
    /// Annotate even where a rewrite cannot move Secrets to the current key version (KMS v2
    /// with a constant key_id before every apiserver restarted).
    #[arg(long)]
    pub force: bool,
}

/// Who sends the rewrite's writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Via {
    /// This command's own paced, resumable patches.
    Plugin,
    /// A StorageVersionMigration, carried out by kube-controller-manager.
    StorageVersionMigration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KmsApi {
    V1,
    V2,
}

/// The dry run's estimate of KMS calls and what they cost.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KmsCost {
    pub kms_api: KmsApi,
    pub calls: u64,
    /// The price the cost is computed at: `--price-per-10k`, else the published one for the
    /// key; absent when neither applies (see `unpriced`).
    pub price: Option<Price>,
    /// `calls` at `price`, in its currency.
    pub cost: Option<f64>,
    /// Why there is no price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unpriced: Option<String>,
}

impl KmsCost {
    fn new(kms_api: KmsApi, calls: u64, price: Result<Price, String>) -> Self {
        let (price, unpriced) = match price {
            Ok(p) => (Some(p), None),
            Err(why) => (None, Some(why)),
        };
        Self {
            kms_api,
            calls,
            cost: price
                .as_ref()
                .map(|p| calls as f64 / 10_000.0 * p.per_10k_calls),
            price,
            unpriced,
        }
    }
}

/// The final report; `-o json|yaml` prints it as is.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub kind: &'static str,
    pub mode: Mode,
    pub via: Via,
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
    /// The concurrency window when the rewrite ended; absent with `--via
    /// storage-version-migration`, where the controller does the writes and this client none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_concurrency: Option<usize>,
    /// The largest window the rewrite reached; absent as `final_concurrency` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_concurrency: Option<usize>,
    /// 429 responses from the apiserver (each was retried after its Retry-After).
    pub throttled: u64,
    /// The API Priority and Fairness flow schema and priority level that classified the
    /// rewrite's requests (`X-Kubernetes-PF-*` headers), when the apiserver sent them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub apf: Option<Classification>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms: Option<KmsCost>,
    /// What the rewrite can move in this cluster, and why.
    pub rotation: ReachReport,
    /// `--via storage-version-migration`: the migration and the conditions it ended with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migration: Option<MigrationReport>,
}

pub async fn run(global: &GlobalArgs, args: RewriteArgs) -> anyhow::Result<Exit> {
    let RewriteArgs {
        time,
        key,
        region,
        kms,
        mode,
        via,
        migration_controller_timeout,
        concurrency,
        fixed_concurrency,
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
        apiservers,
        force,
    } = args;
    let mode = match (via, mode) {
        (Via::StorageVersionMigration, Some(Mode::Annotate)) => anyhow::bail!(
            "--via storage-version-migration is the stale-only rewrite (the controller sends server-side-apply no-ops); drop --mode annotate"
        ),
        (Via::StorageVersionMigration, _) => Mode::StaleOnly,
        (Via::Plugin, mode) => mode.unwrap_or(Mode::Annotate),
    };
    if via == Via::StorageVersionMigration {
        anyhow::ensure!(
            global.kube.all_namespaces && global.kube.selector.is_none(),
            "--via storage-version-migration rewrites every Secret of the cluster: pass -A (and no --selector)"
        );
    }
    anyhow::ensure!(concurrency > 0, "--concurrency must be at least 1, got 0");
    anyhow::ensure!(
        (1..=10_000).contains(&chunk_size),
        "--chunk-size must be 1..=10000, got {chunk_size}"
    );
    let adaptive = Arc::new(Adaptive::new(concurrency, !fixed_concurrency));
    let signals = ApfSignalsLayer::new(adaptive.clone());
    let (builder, namespace) = global.kube.client_builder(false).await?;
    let client = builder.with_layer(&signals).build();
    if matches!(&time, Some(t) if t.trim().is_empty()) {
        anyhow::bail!("--time must not be empty");
    }
    if via == Via::StorageVersionMigration && !storage_migration::served(&client).await? {
        return Err(storage_migration::MigrationError::ApiAbsent.into());
    }
    let meta = match key_metadata(&client, key, region, &kms).await {
        Ok(meta) => meta,
        Err(e) if time.is_some() || mode == Mode::StaleOnly => {
            eprintln!("warning: {e:#}; the key's current version is unknown");
            None
        }
        Err(e) => anyhow::bail!("{e:#} (pass --time to skip KMS)"),
    };
    let time = match time {
        Some(t) => t,
        None if mode == Mode::StaleOnly => String::new(),
        None => rotation_time_from_kms(meta.as_ref())?,
    };
    let facts = meta.as_ref().map(kms_facts::from_metadata);
    let knowledge = rotation_evidence::knowledge(
        facts.as_ref(),
        expect_key_id.as_deref(),
        Some(&time).filter(|t| !t.is_empty()).map(String::as_str),
        Vec::new(),
    );
    let evidence = Evidence {
        client: &client,
        kube: &global.kube,
        apiservers: &apiservers,
        key: &knowledge,
    };
    let mut reach = evidence.reach().await;
    eprintln!("rotation: {}: {}", reach.layout(), reach.explain());
    if !dry_run {
        // KMS v1 has no key_id, so nothing reads as stale: server-side-apply no-ops write nothing.
        anyhow::ensure!(
            !(mode == Mode::StaleOnly && matches!(reach, Reach::KmsV1 { .. })) || force,
            "refusing to rewrite: with {} --mode stale-only writes nothing (KMS v1 has no key_id, so no Secret reads as stale); use --mode annotate",
            reach.layout()
        );
        if reach.moves() == Moves::No {
            anyhow::ensure!(
                force,
                "refusing to rewrite: with {} a rewrite only annotates Secrets and leaves them wrapped by the old key version; restart every apiserver first (each then wraps a new seed with the current primary version), or pass --force to annotate anyway",
                reach.layout()
            );
            eprintln!(
                "warning: --force: annotating only; Secrets stay wrapped by the old key version"
            );
        }
        reach = guard_timing(&evidence, reach, &time, plugin_pickup, wait).await?;
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
    let (tally, failed_secrets, migration) = match via {
        Via::Plugin => {
            let (tally, failed) = sweep(
                &client,
                &plan,
                Arc::new(TokenBucket::new(qps, burst)),
                adaptive.clone(),
                &progress,
            )
            .await?;
            (tally, failed, None)
        }
        Via::StorageVersionMigration => {
            // What the migration walks.
            let listed = object_count::count(Api::<Secret>::all(client.clone()))
                .await
                .context("listing Secrets")?;
            let migration = if dry_run {
                None
            } else {
                let say = |line: &str| {
                    if !quiet {
                        eprintln!("{line}");
                    }
                };
                Some(
                    storage_migration::migrate(
                        &client,
                        migration_controller_timeout,
                        Duration::from_millis(500),
                        say,
                    )
                    .await?,
                )
            };
            let tally = Tally {
                listed,
                would_patch: if dry_run { listed } else { 0 },
                ..Default::default()
            };
            (tally, Vec::new(), migration)
        }
    };
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    let figures = adaptive.figures();
    let handled = match via {
        Via::Plugin => {
            tally.patched
                + tally.already_current
                + tally.not_found
                + tally.conflicts
                + tally.would_patch
        }
        Via::StorageVersionMigration => tally.listed,
    };
    let kms = dry_run.then(|| {
        let kms_api = kms_api.unwrap_or(match reach.kms_calls_per_write() {
            Some(1) => KmsApi::V1,
            _ => KmsApi::V2,
        });
        let calls = match kms_api {
            KmsApi::V1 => tally.would_patch,
            KmsApi::V2 => 0,
        };
        KmsCost::new(
            kms_api,
            calls,
            kms_price::for_key(price_per_10k, meta.as_ref()),
        )
    });
    let report = Report {
        kind: "RewriteReport",
        mode,
        via,
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
        final_concurrency: (via == Via::Plugin).then_some(figures.final_concurrency),
        peak_concurrency: (via == Via::Plugin).then_some(figures.peak_concurrency),
        throttled: figures.throttled,
        apf: signals.classification(),
        kms,
        rotation: reach.into(),
        migration,
    };
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report));
    }
    Ok(Exit::findings_if(report.tally.failed > 0))
}

/// The key's metadata from KMS, when a key is named (flag or SecretEncryption).
async fn key_metadata(
    client: &kube::Client,
    key: Option<String>,
    region: Option<String>,
    kms: &KmsArgs,
) -> anyhow::Result<Option<KeyMetadata>> {
    let declared = kms_access::declared(client).await?;
    let Some(target) = KeyTarget::resolve(key, region, declared.as_ref()) else {
        return Ok(None);
    };
    let key = &target.key;
    let answer = target
        .client(kms)?
        .describe_key(key)
        .await
        .with_context(|| format!("cannot describe key {key}"))?;
    Ok(Some(answer.key_metadata))
}

/// TIME from the key's rotation history: its LastRotationDate, else its CreationDate.
fn rotation_time_from_kms(meta: Option<&KeyMetadata>) -> anyhow::Result<String> {
    let meta = meta.context(
        "no key to take the rotation time from: pass --time, --key, or declare a SecretEncryption named cluster",
    )?;
    let date = meta
        .last_rotation_date
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| meta.creation_date.clone());
    rotation_time::from_kms_date(&date).map_err(anyhow::Error::msg)
}

/// Where the reach is read from, so the wait can read it again.
struct Evidence<'a> {
    client: &'a kube::Client,
    kube: &'a KubeArgs,
    apiservers: &'a ApiserverArgs,
    key: &'a KeyKnowledge,
}

impl Evidence<'_> {
    /// The reach now; unreadable metrics leave it unknown, with the reason.
    async fn reach(&self) -> Reach {
        rotation_evidence::reach(self.client, self.kube, self.apiservers, self.key)
            .await
            .unwrap_or_else(|e| Reach::Unknown {
                why: format!("{e:#}"),
            })
    }
}

/// Warns, or with `wait` sleeps, while a rewrite may still write with the old key version:
/// until every apiserver seen reports the current key_id where the metrics tell, else for the
/// `3 + N + 5` minutes after the rotation.
async fn guard_timing(
    evidence: &Evidence<'_>,
    mut reach: Reach,
    time: &str,
    pickup: Duration,
    wait: bool,
) -> anyhow::Result<Reach> {
    loop {
        match reach.moves() {
            Moves::Yes | Moves::No => return Ok(reach),
            Moves::NotYet if wait => {
                eprintln!("waiting: {}", reach.explain());
                tokio::time::sleep(Duration::from_secs(15)).await;
                reach = evidence.reach().await;
                continue;
            }
            Moves::NotYet => {
                eprintln!(
                    "warning: {}; re-run afterwards, or pass --wait",
                    reach.explain()
                );
                return Ok(reach);
            }
            Moves::Unknown => {}
        }
        let Some(rotated) = rotation_time::parse_compact(time) else {
            return Ok(reach);
        };
        let ready_at = safe_after(rotated, pickup);
        let now = OffsetDateTime::now_utc();
        if now >= ready_at {
            return Ok(reach);
        }
        let left = Duration::try_from(ready_at - now).unwrap_or_default();
        if !wait {
            eprintln!(
                "warning: the key rotated at {time}; the apiserver may keep writing with the old key until {} (3 + N + 5 minutes, N = {}s). Secrets rewritten before then may stay on the old key: re-run afterwards, or pass --wait",
                rotation_time::compact(ready_at),
                pickup.as_secs()
            );
            return Ok(reach);
        }
        eprintln!(
            "waiting {}s (3 + N + 5 minutes after the rotation at {time})",
            left.as_secs()
        );
        tokio::time::sleep(left.min(Duration::from_secs(15))).await;
        reach = evidence.reach().await;
    }
}

/// The human form of the report.
pub fn render(r: &Report) -> String {
    let t = &r.tally;
    let scope = if r.scope == "all" {
        "all namespaces".to_string()
    } else {
        format!("namespace {}", r.scope)
    };
    let what = match (r.via, r.mode) {
        (Via::StorageVersionMigration, _) => {
            "stale-only, server-side by a StorageVersionMigration".to_string()
        }
        (Via::Plugin, Mode::Annotate) => format!("annotate {}={}", r.annotation, r.time),
        (Via::Plugin, Mode::StaleOnly) => "stale-only (server-side apply no-ops)".to_string(),
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
    if let Some(m) = &r.migration {
        line("migration", m.name.clone());
        line("up to", format!("resourceVersion {}", m.resource_version));
        for c in &m.conditions {
            line(
                &format!("  {}", c.type_),
                format!("{} ({}) {}", c.status, c.reason, c.message)
                    .trim_end()
                    .to_string(),
            );
        }
    } else if r.dry_run {
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
        line("throttled (429)", r.throttled.to_string());
        if let (Some(end), Some(peak)) = (r.final_concurrency, r.peak_concurrency) {
            line("concurrency", format!("{end} at the end, {peak} at most"));
        }
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
        match (&k.price, k.cost) {
            (Some(p), Some(cost)) => {
                line(
                    "cost",
                    format!(
                        "{cost:.4} {} at {} {} per 10,000 calls",
                        p.currency, p.per_10k_calls, p.currency
                    ),
                );
                let source = if p.source.is_empty() {
                    String::new()
                } else {
                    format!(" ({} as of {})", p.source, p.as_of)
                };
                line("price", format!("{}{source}", p.basis));
            }
            _ => line(
                "cost",
                format!("unknown: {}", k.unpriced.as_deref().unwrap_or("no price")),
            ),
        }
    }
    line("rotation", r.rotation.reach.layout());
    line(
        "moves secrets",
        match r.rotation.moves {
            Moves::Yes => "yes",
            Moves::NotYet => "not yet",
            Moves::No => "no: annotated only",
            Moves::Unknown => "unknown",
        }
        .to_string(),
    );
    if let Some(seen) = r.rotation.reach.apiservers_seen() {
        line(
            "apiservers seen",
            format!(
                "{} ({} with the current key version)",
                seen.len(),
                seen.iter().filter(|a| a.current).count()
            ),
        );
    }
    out.push_str(&format!("  why: {}\n", r.rotation.explanation));
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
            via: Via::Plugin,
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
            final_concurrency: Some(8),
            peak_concurrency: Some(8),
            throttled: 0,
            apf: None,
            kms: Some(KmsCost::new(
                KmsApi::V1,
                20_000,
                kms_price::published("cn-hangzhou", "Aliyun_AES_256", false)
                    .map_err(|e| e.to_string()),
            )),
            rotation: Reach::KmsV1 {
                provider: "secretkms-v1".into(),
            }
            .into(),
            migration: None,
        };
        let text = render(&report);
        assert!(text.starts_with(
            "DRY RUN rewrite: annotate encryption-key-rotation-time=20260101-000000, all namespaces\n"
        ));
        assert!(text.contains("  would patch       20000\n"), "{text}");
        assert!(
            text.contains("  kms calls         20000 (KMS v1; one Encrypt per written Secret)\n")
        );
        assert!(
            text.contains("  cost              0.1600 USD at 0.08 USD per 10,000 calls\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "  price             KMS 1.0 basic key (Aliyun_AES_256), Chinese mainland region cn-hangzhou ({} as of {})\n",
                kms_price::KMS_1_SOURCE,
                kms_price::KMS_1_AS_OF
            )),
            "{text}"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["wouldPatch"], 20_000);
        assert_eq!(json["kms"]["calls"], 20_000);
        assert_eq!(json["kms"]["price"]["per10kCalls"], 0.08);
        assert_eq!(json["kms"]["price"]["currency"], "USD");
        assert_eq!(json["kms"]["cost"], 0.16);
        assert!(text.contains("  moves secrets     yes\n"), "{text}");
        assert_eq!(json["rotation"]["layout"], "kmsV1");
        assert_eq!(json["rotation"]["rewritten"], "rewrapped");
    }

    fn metadata(arn: &str, spec: &str, instance: Option<&str>) -> KeyMetadata {
        KeyMetadata {
            arn: arn.into(),
            key_spec: spec.into(),
            dkms_instance_id: instance.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn the_dry_run_prices_the_key_it_read() {
        let hz = metadata(
            "acs:kms:cn-hangzhou:1234567890123456:key/key-1",
            "Aliyun_AES_256",
            None,
        );
        assert_eq!(
            kms_price::for_key(None, Some(&hz)).unwrap().per_10k_calls,
            0.08
        );
        let sg = metadata(
            "acs:kms:ap-southeast-1:1234567890123456:key/key-1",
            "RSA_3072",
            Some(""),
        );
        assert_eq!(
            kms_price::for_key(None, Some(&sg)).unwrap().per_10k_calls,
            0.15
        );
        let instance = metadata(
            "acs:kms:cn-hangzhou:1234567890123456:key/key-1",
            "Aliyun_AES_256",
            Some("kst-hzz123"),
        );
        assert_eq!(
            kms_price::for_key(None, Some(&instance)).unwrap().source,
            kms_price::INSTANCE_SOURCE
        );
    }

    #[test]
    fn the_given_price_wins_and_without_a_key_the_dry_run_says_what_to_pass() {
        let hz = metadata(
            "acs:kms:cn-hangzhou:1234567890123456:key/key-1",
            "Aliyun_AES_256",
            None,
        );
        let given = kms_price::for_key(Some(0.5), Some(&hz)).unwrap();
        assert_eq!(
            (given.per_10k_calls, given.basis.as_str()),
            (0.5, "--price-per-10k")
        );
        let why = kms_price::for_key(None, None).unwrap_err();
        assert!(why.contains("pass --price-per-10k"), "{why}");
        let cost = KmsCost::new(KmsApi::V1, 3, Err(why.clone()));
        assert_eq!((cost.cost, cost.unpriced), (None, Some(why)));
    }
}
