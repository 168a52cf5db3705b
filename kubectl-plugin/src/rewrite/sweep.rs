//! The rewrite itself: a metadata-only paged listing feeding a bounded pool of metadata-only
//! patches, as many in flight as the [`Adaptive`] window allows. The tool never asks for Secret
//! data (the `as=PartialObjectMetadata` Accept header on list and patch), so memory holds at most
//! one page of metadata plus `--concurrency` requests, whatever the cluster's size.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::json;

use super::adaptive::{Adaptive, Outcome};
use super::progress::Progress;
use super::rate_limiter::TokenBucket;
use crate::kube_args::Scope;
use crate::rotation_time::ANNOTATION;

/// The field manager of stale-only applies (an empty apply owns no fields).
pub const FIELD_MANAGER: &str = "kubectl-secretkms";
/// Most errors listed in the report; the counters stay exact.
const MAX_REPORTED_ERRORS: usize = 20;

/// How each Secret is rewritten.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Merge-patch `encryption-key-rotation-time=TIME` (ACK's convention): always a real write,
    /// so KMS v1 and v2 both re-encrypt; Secrets already carrying TIME are skipped.
    Annotate,
    /// A server-side-apply no-op per Secret, as the in-tree storage version migrator sends: the
    /// apiserver writes only objects it reads as stale (KMS v2 key_id change, provider order).
    StaleOnly,
}

/// What to sweep.
#[derive(Debug, Clone)]
pub struct Plan {
    pub scope: Scope,
    pub selector: Option<String>,
    pub mode: Mode,
    pub time: String,
    pub chunk_size: u32,
    /// The most patches in flight (the window adapts below it).
    pub concurrency: usize,
    pub max_attempts: u32,
    /// Count only; no patch is sent.
    pub dry_run: bool,
}

/// The counters of one sweep.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Tally {
    /// Secrets seen in the listing.
    pub listed: u64,
    /// Secrets that already carried TIME (annotate mode): done by an earlier run.
    pub already_current: u64,
    /// Patches the apiserver accepted (annotate: written; stale-only: see `rewritten`).
    pub patched: u64,
    /// Stale-only: patches after which the resourceVersion changed, i.e. the object was stale
    /// and was re-encrypted.
    pub rewritten: u64,
    /// Deleted between listing and patching.
    pub not_found: u64,
    /// Stale-only: changed by someone else since listed (so already written with the new key).
    pub conflicts: u64,
    /// Secrets that could not be patched; see `errors`.
    pub failed: u64,
    /// Requests sent again after 409, 429, 5xx or a transport error (a 429 resent after the
    /// apiserver's Retry-After counts here too).
    pub retries: u64,
    /// Listings continued after 410 Gone (expired continue token).
    pub expired_continues: u64,
    /// Dry run: Secrets a real run would patch.
    pub would_patch: u64,
}

/// One Secret that failed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FailedSecret {
    pub namespace: String,
    pub name: String,
    pub error: String,
}

#[derive(Debug, Default)]
struct Counters {
    listed: AtomicU64,
    already_current: AtomicU64,
    patched: AtomicU64,
    rewritten: AtomicU64,
    not_found: AtomicU64,
    conflicts: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    expired_continues: AtomicU64,
    would_patch: AtomicU64,
}

impl Counters {
    fn tally(&self) -> Tally {
        Tally {
            listed: self.listed.load(Relaxed),
            already_current: self.already_current.load(Relaxed),
            patched: self.patched.load(Relaxed),
            rewritten: self.rewritten.load(Relaxed),
            not_found: self.not_found.load(Relaxed),
            conflicts: self.conflicts.load(Relaxed),
            failed: self.failed.load(Relaxed),
            retries: self.retries.load(Relaxed),
            expired_continues: self.expired_continues.load(Relaxed),
            would_patch: self.would_patch.load(Relaxed),
        }
    }
}

/// A Secret to patch: only names and preconditions, never data.
#[derive(Debug)]
struct Item {
    namespace: String,
    name: String,
    uid: Option<String>,
    resource_version: Option<String>,
}

/// Runs the sweep; Err only when the listing itself fails for good.
pub async fn sweep(
    client: &Client,
    plan: &Plan,
    limiter: Arc<TokenBucket>,
    adaptive: Arc<Adaptive>,
    progress: &Progress,
) -> anyhow::Result<(Tally, Vec<FailedSecret>)> {
    let counters = Arc::new(Counters::default());
    let errors = Arc::new(std::sync::Mutex::new(Vec::new()));
    // A page's worth of buffering lets the next page load while this one is patched.
    let (tx, rx) = futures::channel::mpsc::channel::<Item>(plan.chunk_size as usize);
    let lister = list_all(client, plan, &limiter, &adaptive, &counters, progress, tx);
    let patcher = rx.for_each_concurrent(plan.concurrency.max(1), |item| {
        let counters = counters.clone();
        let errors = errors.clone();
        let limiter = limiter.clone();
        let adaptive = adaptive.clone();
        async move {
            let limits = Limits {
                qps: &limiter,
                window: &adaptive,
            };
            match patch_one(client, plan, limits, &counters, progress, &item).await {
                Ok(()) => {}
                Err(error) => {
                    counters.failed.fetch_add(1, Relaxed);
                    let mut errors = errors.lock().expect("not poisoned");
                    if errors.len() < MAX_REPORTED_ERRORS {
                        errors.push(FailedSecret {
                            namespace: item.namespace.clone(),
                            name: item.name.clone(),
                            error,
                        });
                    }
                }
            }
            progress.inc();
        }
    });
    let (listed, ()) = futures::join!(lister, patcher);
    listed?;
    let errors = std::mem::take(&mut *errors.lock().expect("not poisoned"));
    Ok((counters.tally(), errors))
}

async fn list_all(
    client: &Client,
    plan: &Plan,
    limiter: &TokenBucket,
    adaptive: &Adaptive,
    counters: &Counters,
    progress: &Progress,
    mut tx: futures::channel::mpsc::Sender<Item>,
) -> anyhow::Result<()> {
    let api: Api<Secret> = match &plan.scope {
        Scope::All => Api::all(client.clone()),
        Scope::Namespace(ns) => Api::namespaced(client.clone(), ns),
    };
    let mut token: Option<String> = None;
    let mut attempt = 0;
    loop {
        let mut lp = ListParams::default().limit(plan.chunk_size);
        lp.label_selector = plan.selector.clone();
        lp.continue_token = token.clone();
        limiter.acquire().await;
        adaptive.unpaused().await;
        let page = match api.list_metadata(&lp).await {
            Ok(page) => page,
            Err(kube::Error::Api(s)) if s.code == 410 => {
                // The continue token expired (etcd compaction). The 410 carries an inconsistent
                // token to keep going; anything written meanwhile already used the new key.
                counters.expired_continues.fetch_add(1, Relaxed);
                token = s.metadata.and_then(|m| m.continue_);
                if token.is_none() {
                    // No token offered: start over; what is done is skipped by its annotation.
                    eprintln!(
                        "warning: the listing expired (410) without a continue token; listing again from the start"
                    );
                }
                continue;
            }
            Err(e) if retryable(&e) && attempt + 1 < plan.max_attempts => {
                counters.retries.fetch_add(1, Relaxed);
                tokio::time::sleep(delay_for(&e, attempt)).await;
                attempt += 1;
                continue;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot list Secrets ({})",
                    match &plan.scope {
                        Scope::All => "all namespaces".to_string(),
                        Scope::Namespace(ns) => format!("namespace {ns}"),
                    }
                )));
            }
        };
        attempt = 0;
        let listed =
            counters.listed.fetch_add(page.items.len() as u64, Relaxed) + page.items.len() as u64;
        progress.set_total(listed + page.metadata.remaining_item_count.unwrap_or(0).max(0) as u64);
        for secret in page.items {
            let meta = secret.metadata;
            let current = meta
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION))
                .is_some_and(|v| *v == plan.time);
            if plan.mode == Mode::Annotate && current {
                counters.already_current.fetch_add(1, Relaxed);
                progress.inc();
                continue;
            }
            if plan.dry_run {
                counters.would_patch.fetch_add(1, Relaxed);
                progress.inc();
                continue;
            }
            let item = Item {
                namespace: meta.namespace.unwrap_or_default(),
                name: meta.name.unwrap_or_default(),
                uid: meta.uid,
                resource_version: meta.resource_version,
            };
            if tx.send(item).await.is_err() {
                anyhow::bail!("the patch workers stopped early");
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(());
        }
    }
}

/// What paces the patches: the `--qps` bucket and the concurrency window.
#[derive(Clone, Copy)]
struct Limits<'a> {
    qps: &'a TokenBucket,
    window: &'a Adaptive,
}

async fn patch_one(
    client: &Client,
    plan: &Plan,
    limits: Limits<'_>,
    counters: &Counters,
    progress: &Progress,
    item: &Item,
) -> Result<(), String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &item.namespace);
    for attempt in 0..plan.max_attempts.max(1) {
        // The token first: a permit held while waiting for --qps would read as apiserver latency.
        limits.qps.acquire().await;
        let permit = limits.window.acquire().await;
        let result = match plan.mode {
            Mode::Annotate => {
                let patch = json!({"metadata": {"annotations": {ANNOTATION: plan.time}}});
                api.patch_metadata(&item.name, &PatchParams::default(), &Patch::Merge(patch))
                    .await
            }
            Mode::StaleOnly => {
                // uid and resourceVersion are preconditions: a 409 means someone wrote the
                // Secret since we listed it, so it is already stored under the new key.
                let apply = json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": item.name,
                        "namespace": item.namespace,
                        "uid": item.uid,
                        "resourceVersion": item.resource_version,
                    }
                });
                api.patch_metadata(
                    &item.name,
                    &PatchParams::apply(FIELD_MANAGER),
                    &Patch::Apply(apply),
                )
                .await
            }
        };
        if permit.finish(outcome(&result)) {
            progress.set_concurrency(limits.window.figures());
        }
        match result {
            Ok(after) => {
                counters.patched.fetch_add(1, Relaxed);
                if plan.mode == Mode::StaleOnly
                    && after.metadata.resource_version != item.resource_version
                {
                    counters.rewritten.fetch_add(1, Relaxed);
                }
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                counters.not_found.fetch_add(1, Relaxed);
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 409 && plan.mode == Mode::StaleOnly => {
                counters.conflicts.fetch_add(1, Relaxed);
                return Ok(());
            }
            Err(e) if retryable(&e) && attempt + 1 < plan.max_attempts => {
                counters.retries.fetch_add(1, Relaxed);
                tokio::time::sleep(delay_for(&e, attempt)).await;
            }
            Err(kube::Error::Api(s)) => {
                return Err(format!("{} {}: {}", s.code, s.reason, s.message));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(format!("gave up after {} attempts", plan.max_attempts))
}

/// 409 (a merge patch lost an internal race), 429, 5xx and transport failures are worth another
/// try; 4xx verdicts (403 RBAC, 422 validation, a webhook's denial) are not.
pub fn retryable(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(s) => matches!(s.code, 409 | 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

/// What a response says about the apiserver's load.
fn outcome<T>(result: &Result<T, kube::Error>) -> Outcome {
    match result {
        Ok(_) => Outcome::Served,
        Err(kube::Error::Api(s)) if s.code == 429 => Outcome::Throttled,
        Err(kube::Error::Api(s)) if matches!(s.code, 500 | 502 | 503 | 504) => Outcome::Overloaded,
        Err(kube::Error::HyperError(_) | kube::Error::Service(_)) => Outcome::Overloaded,
        Err(_) => Outcome::Neutral,
    }
}

/// Retry-After when the Status carries one; none for a 429, whose Retry-After header already
/// paused the window ([`super::apf_signals`]); else exponential backoff from 200 ms to 10 s.
pub fn delay_for(error: &kube::Error, attempt: u32) -> Duration {
    if let kube::Error::Api(s) = error {
        if let Some(d) = s.details.as_ref().filter(|d| d.retry_after_seconds > 0) {
            return Duration::from_secs(u64::from(d.retry_after_seconds));
        }
        if s.code == 429 {
            return Duration::ZERO;
        }
    }
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(6))).min(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::core::response::StatusDetails;

    fn api_error(code: u16, retry_after: u32) -> kube::Error {
        let mut status = kube::core::Status::failure("x", "y").with_code(code);
        if retry_after > 0 {
            let details: StatusDetails =
                serde_json::from_value(json!({ "retryAfterSeconds": retry_after })).unwrap();
            status.details = Some(details);
        }
        kube::Error::Api(status.boxed())
    }

    #[test]
    fn retries_what_can_succeed_later_only() {
        for code in [409, 429, 500, 503, 504] {
            assert!(retryable(&api_error(code, 0)), "{code}");
        }
        for code in [400, 403, 404, 422] {
            assert!(!retryable(&api_error(code, 0)), "{code}");
        }
    }

    #[test]
    fn retry_after_is_honoured_and_backoff_is_bounded() {
        assert_eq!(delay_for(&api_error(429, 7), 0), Duration::from_secs(7));
        assert_eq!(delay_for(&api_error(429, 0), 3), Duration::ZERO);
        assert_eq!(delay_for(&api_error(503, 0), 0), Duration::from_millis(200));
        assert_eq!(delay_for(&api_error(503, 0), 2), Duration::from_millis(800));
        assert_eq!(delay_for(&api_error(503, 0), 30), Duration::from_secs(10));
    }
}
