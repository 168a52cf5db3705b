//! One sandboxed call into a policy: a fresh Store with memory limits and an epoch deadline,
//! instantiated from the policy's Pre, called, and dropped, whatever the guest did. Failures are
//! sorted into [`ErrorKind`]s from what the host observed (the deadline callback fired, the
//! limiter refused memory), not from error strings.

use std::sync::Arc;

use wasmtime::{Engine, ResourceLimiter, Store, Trap, UpdateDeadline};

use super::bindings::{Policy, PolicyPre, wit};
use super::host::{HostState, Limits};
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
    /// Runs `validate` and checks the verdict.
    pub(crate) fn validate(
        &self,
        request: &str,
        state: &wit::EncryptionState,
        settings: &str,
    ) -> Outcome {
        let verdict =
            self.call(|policy, store| policy.call_validate(store, request, state, settings));
        match verdict.and_then(|v| self.check_verdict(v)) {
            Ok(v) if v.allowed => Outcome::Allowed(v),
            Ok(v) => Outcome::Denied(v),
            Err(e) => Outcome::Errored(e),
        }
    }

    /// Runs `validate-settings`.
    pub(crate) fn validate_settings(
        &self,
        settings: &str,
    ) -> Result<Result<(), String>, EvaluationError> {
        self.call(|policy, store| policy.call_validate_settings(store, settings))
    }

    fn call<R>(
        &self,
        f: impl FnOnce(&Policy, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, EvaluationError> {
        let mut store = Store::new(
            self.engine,
            HostState::new(self.limits, Arc::clone(self.keys), self.until),
        );
        store.limiter(|s| s as &mut dyn ResourceLimiter);
        // The deadline is measured on the clock, not by counting ticks: under CPU pressure the
        // epoch thread wakes late (3 ms per "1 ms" tick was seen on a loaded 2-core machine), so
        // 50 ticks can be far more than 50 ms. The callback runs at every tick (a clock read per
        // millisecond of guest time; policies usually finish before the first tick) and stops the
        // guest once its guest time, wall time minus time spent in host calls
        // (`PolicySpec::timeout_ms`), is spent.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut cx| {
            let state = cx.data_mut();
            if !state.within_review_deadline() {
                state.review_deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            } else if state.remaining().is_some() {
                Ok(UpdateDeadline::Continue(1))
            } else {
                state.deadline_hit = true;
                Ok(UpdateDeadline::Interrupt)
            }
        });
        store.data_mut().start_clock();
        let instance = match self.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(self.classify(&store, &e, ErrorKind::Instantiate)),
        };
        f(&instance, &mut store).map_err(|e| self.classify(&store, &e, ErrorKind::BadVerdict))
        // The store, and with it a trapped or interrupted instance, is dropped here.
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
