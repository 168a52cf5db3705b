//! One sandboxed call into a policy: a fresh Store with memory limits and an epoch deadline,
//! instantiated from the policy's Pre, called, and dropped, whatever the guest did. Failures are
//! sorted into [`ErrorKind`]s from what the host observed (the deadline callback fired, the
//! limiter refused memory), not from error strings.
//!
//! Calls are futures (the guest runs on a fiber from the pooling allocator's stack pool): the
//! webhook awaits them on its tokio workers, with no thread hand-off for an evaluation of tens
//! of microseconds, and the guest yields to the executor at every epoch tick, so a slow policy
//! delays no other connection; the [`Driver::Blocking`] entry points drive the same future on
//! their own thread.

use std::sync::Arc;

use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};

use super::bindings::{Policy, PolicyPre, wit};
use super::block_on::block_on;
use super::host::{Driver, HostState, Limits};
use super::outcome::truncate_chars;
use super::{ErrorKind, EvaluationError, KeyLookup, Outcome, Verdict};

/// Everything a call needs besides its arguments.
pub(crate) struct CallContext<'a> {
    pub engine: &'a Engine,
    pub pre: &'a PolicyPre<HostState>,
    pub policy: &'a str,
    pub limits: Limits,
    pub keys: &'a Arc<dyn KeyLookup>,
    /// The review's deadline ([`super::PolicySet::evaluate_until`]).
    pub until: Option<std::time::Instant>,
}

impl CallContext<'_> {
    /// Runs `validate` and checks the verdict; also says whether the guest grew its memory.
    pub(crate) async fn validate(
        &self,
        driver: Driver,
        request: &str,
        state: &wit::EncryptionState,
        settings: &str,
    ) -> (Outcome, bool) {
        let (verdict, grew) = match self.instantiate(driver).await {
            Ok((mut store, policy)) => {
                let called = policy
                    .call_validate(&mut store, request, state, settings)
                    .await;
                let grew = store.data().grew_memory;
                (
                    called.map_err(|e| self.classify(&store, &e, ErrorKind::BadVerdict)),
                    grew,
                )
            }
            Err(e) => (Err(e), false),
        };
        let outcome = match verdict.and_then(|v| self.check_verdict(v)) {
            Ok(v) if v.allowed => Outcome::Allowed(v),
            Ok(v) => Outcome::Denied(v),
            Err(e) => Outcome::Errored(e),
        };
        (outcome, grew)
        // The store, and with it a trapped or interrupted instance, is dropped here.
    }

    /// Runs `validate-settings`, on the calling thread.
    pub(crate) fn validate_settings(
        &self,
        settings: &str,
    ) -> Result<Result<(), String>, EvaluationError> {
        block_on(async {
            let (mut store, policy) = self.instantiate(Driver::Blocking).await?;
            let called = policy.call_validate_settings(&mut store, settings).await;
            called.map_err(|e| self.classify(&store, &e, ErrorKind::BadVerdict))
        })
    }

    /// A fresh store under this call's limits and deadline, and the policy instantiated in it.
    async fn instantiate(
        &self,
        driver: Driver,
    ) -> Result<(Store<HostState>, Policy), EvaluationError> {
        let mut store = Store::new(
            self.engine,
            HostState::new(self.limits, Arc::clone(self.keys), self.until, driver),
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        // The deadline is measured on the clock, not by counting ticks: under CPU pressure the
        // epoch thread wakes late (3 ms per "1 ms" tick was seen on a loaded 2-core machine), so
        // 50 ticks can be far more than 50 ms. The callback runs at every tick (a clock read per
        // millisecond of guest time; policies usually finish before the first tick) and stops the
        // guest once its guest time, wall time minus time spent in host calls
        // (`PolicySpec::timeout_ms`), is spent. On an executor it also yields there, so a
        // long-running guest shares its thread with the connections the executor serves.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let state = cx.data_mut();
            if !state.within_review_deadline() {
                state.review_deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else if state.remaining().is_none() {
                state.deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else if state.driver == Driver::Async {
                Ok(UpdateDeadline::Yield(1))
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.data_mut().start_clock();
        match self.pre.instantiate_async(&mut store).await {
            Ok(policy) => Ok((store, policy)),
            Err(e) => Err(self.classify(&store, &e, ErrorKind::Instantiate)),
        }
    }

    fn classify(
        &self,
        store: &Store<HostState>,
        e: &wasmtime::Error,
        otherwise: ErrorKind,
    ) -> EvaluationError {
        let state = store.data();
        let (kind, message) = if state.review_deadline_hit {
            (
                ErrorKind::Deadline,
                "stopped at the review's deadline".to_owned(),
            )
        } else if state.deadline_hit {
            (
                ErrorKind::Deadline,
                format!("deadline of {}ms exceeded", self.limits.timeout.as_millis()),
            )
        } else if let Some(desired) = state.memory_refused {
            let asked = if desired > 0 {
                format!(" (it asked for {desired} bytes)")
            } else {
                String::new()
            };
            (
                ErrorKind::OutOfMemory,
                format!(
                    "memory limit of {} bytes exceeded{asked}",
                    state.memory_limit()
                ),
            )
        } else if let Some(trap) = e.downcast_ref::<Trap>() {
            (ErrorKind::Trap, format!("trapped: {trap}"))
        } else if otherwise == ErrorKind::Instantiate {
            (
                ErrorKind::Instantiate,
                format!("cannot instantiate: {}", first_line(e)),
            )
        } else {
            (otherwise, format!("invalid result: {}", first_line(e)))
        };
        EvaluationError {
            policy: self.policy.to_owned(),
            kind,
            message,
        }
    }

    /// Bounds what the guest returned and refuses what no user could act on.
    fn check_verdict(&self, v: wit::Verdict) -> Result<Verdict, EvaluationError> {
        let bad = |message: &str| EvaluationError {
            policy: self.policy.to_owned(),
            kind: ErrorKind::BadVerdict,
            message: message.to_owned(),
        };
        if !v.allowed && v.message.trim().is_empty() {
            return Err(bad("denied without a message"));
        }
        let mut message = v.message;
        truncate_chars(&mut message, Verdict::MAX_MESSAGE_CHARS);
        let mut warnings = v.warnings;
        warnings.truncate(Verdict::MAX_WARNINGS);
        let mut audit_annotations = v.audit_annotations;
        audit_annotations.truncate(Verdict::MAX_AUDIT_ANNOTATIONS);
        for (_, value) in &mut audit_annotations {
            truncate_chars(value, Verdict::MAX_ANNOTATION_VALUE_CHARS);
        }
        let code = match v.code {
            _ if v.allowed => 0,
            c @ 400..=599 => c,
            _ => 403,
        };
        Ok(Verdict {
            allowed: v.allowed,
            code,
            message,
            warnings,
            audit_annotations,
        })
    }
}

fn first_line(e: &wasmtime::Error) -> String {
    e.to_string().lines().next().unwrap_or_default().to_owned()
}
