//! A loaded policy configuration, ready to evaluate AdmissionRequests: the runtime's entry point.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::artifact_cache::CacheStatus;
use super::bindings::{self, wit};
use super::block_on::block_on;
use super::compiled::CompiledPolicy;
use super::error::{LoadError, Result};
use super::evaluation::CallContext;
use super::host::{Driver, Limits};
use super::metrics::{PolicyMetrics, Recorded};
use super::rule::Rule;
use super::runtime::PolicyRuntime;
use super::{
    Decision, ErrorKind, EvaluationError, FailureMode, KeyLookup, Mode, Outcome, PolicyConfig,
    PolicyResult, PolicySource,
};
use crate::review::Review;
use secretkms_model::EncryptionState;

/// The least guest time `validate-settings` gets at load, whatever the policy's `timeoutMs`.
/// That budget is an admission's, and load is not one: it runs once, at start or reload, with
/// no apiserver waiting, and it is the first touch of the compiled code (page faults on the
/// mapped artifact, a cold CPU on a node that is starting many pods). A 50 ms wall-clock budget
/// there failed a load on a loaded 2-core machine; a load failure is a pod that does not start.
/// A `validate-settings` that never returns is still stopped, within this floor.
pub const SETTINGS_TIMEOUT_FLOOR: Duration = Duration::from_secs(1);

/// Policies loaded from one [`PolicyConfig`]. `Send + Sync`: share it (e.g. in an `Arc` or an
/// `ArcSwap` for reloads) between threads.
///
/// Evaluation is CPU work, tens of microseconds per policy but up to `timeoutMs` for a
/// misbehaving one. Async hosts await [`PolicySet::evaluate_async`] on their executor (the guest
/// yields at every epoch tick); others call [`PolicySet::evaluate_until`] on a thread that may
/// block. Either way bound the evaluations in flight below
/// [`super::RuntimeConfig::max_instances`].
pub struct PolicySet {
    runtime: PolicyRuntime,
    policies: Vec<LoadedPolicy>,
    keys: Arc<dyn KeyLookup>,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct LoadedPolicy {
    name: String,
    source: String,
    rules: Vec<Rule>,
    mode: Mode,
    failure_mode: FailureMode,
    limits: Limits,
    settings: String,
    compiled: CompiledPolicy,
    metrics: Arc<PolicyMetrics>,
}

/// What was loaded, for `policy run -v`, logs and readiness reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyInfo {
    pub name: String,
    /// `builtin:<name>` or the file path.
    pub source: String,
    /// Of the component bytes.
    pub sha256: String,
    pub cache: CacheStatus,
    /// Why the artefact cache was not used, if it was not.
    pub cache_note: Option<String>,
    /// Compile-or-load plus pre-linking.
    pub load_time: Duration,
    pub mode: Mode,
    pub failure_mode: FailureMode,
}

impl PolicySet {
    pub(crate) fn load(
        runtime: &PolicyRuntime,
        config: &PolicyConfig,
        keys: Arc<dyn KeyLookup>,
    ) -> Result<Self> {
        let rt = &runtime.inner;
        config.check(rt.max_memory_bytes)?;
        let mut policies = Vec::with_capacity(config.policies.len());
        for spec in &config.policies {
            let owned;
            let bytes: &[u8] = match &spec.source {
                PolicySource::Builtin(b) => b.component(),
                PolicySource::Bytes(b) => b,
                PolicySource::File(path) => {
                    owned = std::fs::read(path).map_err(|source| LoadError::ReadSource {
                        policy: spec.name.clone(),
                        path: path.display().to_string(),
                        source,
                    })?;
                    &owned
                }
            };
            let compiled =
                CompiledPolicy::load(&rt.engine, &rt.linker, &rt.cache, &spec.name, bytes)?;
            let loaded = LoadedPolicy {
                name: spec.name.clone(),
                source: spec.source.to_string(),
                rules: spec.effective_rules(),
                mode: spec.mode,
                failure_mode: spec.failure_mode,
                limits: Limits {
                    timeout: Duration::from_millis(spec.timeout_ms),
                    // Checked against max_memory_bytes (a usize) by `config.check`.
                    memory_bytes: usize::try_from(spec.memory_limit_bytes).unwrap_or(usize::MAX),
                },
                settings: spec.settings_json(),
                compiled,
                metrics: rt.metrics_for(&spec.name),
            };
            let mut ctx = loaded.context(runtime, &keys, None);
            ctx.limits.timeout = ctx.limits.timeout.max(SETTINGS_TIMEOUT_FLOOR);
            match ctx.validate_settings(&loaded.settings) {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Err(LoadError::Settings {
                        policy: spec.name.clone(),
                        message,
                    });
                }
                Err(source) => {
                    return Err(LoadError::SettingsFailed {
                        policy: spec.name.clone(),
                        source,
                    });
                }
            }
            policies.push(loaded);
        }
        Ok(Self {
            runtime: runtime.clone(),
            policies,
            keys,
        })
    }

    /// Decides on one decoded AdmissionRequest ([`Review::decode`] for a whole review,
    /// [`Review::decode_request`] for a bare request). The policies whose rules match the
    /// request's head each get the request's full JSON text. Policy failures are in the
    /// [`Decision`] (its [`super::DecisionKind`]); a request that is not an AdmissionRequest
    /// was already refused by decoding.
    pub fn evaluate(&self, review: &Review<'_>, state: &EncryptionState) -> Decision {
        self.evaluate_until(review, state, None)
    }

    /// [`PolicySet::evaluate`] for a review the apiserver waits on until `until`: guest and host
    /// time alike stop there (a guest is interrupted, a `describe-key` is bounded by what is
    /// left), and a policy whose turn comes after it is not run but errs, so no work outlives
    /// the review.
    pub fn evaluate_until(
        &self,
        review: &Review<'_>,
        state: &EncryptionState,
        until: Option<Instant>,
    ) -> Decision {
        block_on(self.evaluate_with(Driver::Blocking, review, state, until))
    }

    /// [`PolicySet::evaluate_until`] for a caller on an async executor's thread: the guest
    /// yields to the executor at every epoch tick and `describe-key` awaits
    /// [`KeyLookup::describe_key_async`], so nothing blocks the thread, and no evaluation needs
    /// a hand-off to another thread.
    pub async fn evaluate_async(
        &self,
        review: &Review<'_>,
        state: &EncryptionState,
        until: Option<Instant>,
    ) -> Decision {
        self.evaluate_with(Driver::Async, review, state, until)
            .await
    }

    async fn evaluate_with(
        &self,
        driver: Driver,
        review: &Review<'_>,
        state: &EncryptionState,
        until: Option<Instant>,
    ) -> Decision {
        let mut wit_state = None;
        let mut results = Vec::new();
        for p in (self.policies.iter()).filter(|p| p.rules.iter().any(|r| r.matches(&review.head)))
        {
            if until.is_some_and(|u| Instant::now() >= u) {
                results.push(p.not_run_past_deadline());
                continue;
            }
            let s = wit_state.get_or_insert_with(|| bindings::encryption_state(state));
            let result = p
                .evaluate(
                    &self.runtime,
                    &self.keys,
                    driver,
                    review.request_json,
                    s,
                    until,
                )
                .await;
            results.push(result);
        }
        Decision::merge(results)
    }

    /// Evaluates the named policy alone, whatever its rules say (`policy run` on a review the
    /// rules would not select). None if no policy has that name.
    pub fn evaluate_policy(
        &self,
        name: &str,
        request_json: &str,
        state: &EncryptionState,
    ) -> Option<PolicyResult> {
        let p = self.policies.iter().find(|p| p.name == name)?;
        Some(block_on(p.evaluate(
            &self.runtime,
            &self.keys,
            Driver::Blocking,
            request_json,
            &bindings::encryption_state(state),
            None,
        )))
    }

    /// The loaded policies, in configuration order.
    pub fn policies(&self) -> impl Iterator<Item = PolicyInfo> + '_ {
        self.policies.iter().map(|p| PolicyInfo {
            name: p.name.clone(),
            source: p.source.clone(),
            sha256: p.compiled.sha256.clone(),
            cache: p.compiled.cache,
            cache_note: p.compiled.cache_note.clone(),
            load_time: p.compiled.load_time,
            mode: p.mode,
            failure_mode: p.failure_mode,
        })
    }

    /// The runtime this set was loaded from (for its metrics).
    pub fn runtime(&self) -> &PolicyRuntime {
        &self.runtime
    }
}

impl LoadedPolicy {
    fn context<'a>(
        &'a self,
        runtime: &'a PolicyRuntime,
        keys: &'a Arc<dyn KeyLookup>,
        until: Option<Instant>,
    ) -> CallContext<'a> {
        CallContext {
            engine: &runtime.inner.engine,
            pre: &self.compiled.pre,
            policy: &self.name,
            limits: self.limits,
            keys,
            until,
        }
    }

    /// The result of a policy whose turn came after the review's deadline.
    fn not_run_past_deadline(&self) -> PolicyResult {
        PolicyResult {
            policy: self.name.clone(),
            mode: self.mode,
            failure_mode: self.failure_mode,
            outcome: Outcome::Errored(EvaluationError {
                policy: self.name.clone(),
                kind: ErrorKind::Deadline,
                message: "not run: the review's deadline had passed".to_owned(),
            }),
            duration: Duration::ZERO,
        }
    }

    async fn evaluate(
        &self,
        runtime: &PolicyRuntime,
        keys: &Arc<dyn KeyLookup>,
        driver: Driver,
        request_json: &str,
        state: &wit::EncryptionState,
        until: Option<Instant>,
    ) -> PolicyResult {
        let started = Instant::now();
        let (outcome, grew_memory) = self
            .context(runtime, keys, until)
            .validate(driver, request_json, state, &self.settings)
            .await;
        let duration = started.elapsed();
        let recorded = match &outcome {
            Outcome::Allowed(_) => Recorded::Allowed,
            Outcome::Denied(_) => Recorded::Denied,
            Outcome::Errored(e) => Recorded::Errored(e.kind),
        };
        self.metrics.record(recorded, duration, grew_memory);
        PolicyResult {
            policy: self.name.clone(),
            mode: self.mode,
            failure_mode: self.failure_mode,
            outcome,
            duration,
        }
    }
}
