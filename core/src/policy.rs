//! The policy runtime: WebAssembly policy components (WIT world `secretkms:policy/policy@0.2.0`,
//! `policies/wit`) evaluated with wasmtime against an AdmissionRequest and the
//! [`EncryptionState`](secretkms_model::EncryptionState), shared by the webhook and
//! `kubectl secretkms policy` so both run exactly the same code.
//!
//! - One [`PolicyRuntime`] per process: one wasmtime Engine with the pooling allocator and epoch
//!   interruption (a 1 ms ticker thread it owns), an on-disk cache of precompiled policies.
//! - [`PolicyRuntime::load`] turns a [`PolicyConfig`] into a [`PolicySet`]: every component is
//!   compiled once, checked against the contract, pre-linked, and its settings validated.
//! - [`PolicySet::evaluate`] picks the policies whose rules match the decoded request
//!   ([`crate::review::Review`]), runs each in a fresh instance (own Store, memory cap,
//!   deadline) and merges the outcomes into a [`Decision`]. [`PolicySet::evaluate_async`] is the
//!   same for async hosts: it runs on the executor's thread (the guest on a pooled fiber stack,
//!   yielding at every epoch tick), so a short evaluation needs no thread hand-off. Bound the
//!   evaluations in flight (a semaphore of about the number of cores, below
//!   [`RuntimeConfig::max_instances`]).
//!
//! Choices a host should know about:
//! - **Deadlines** (`timeoutMs`) count guest time: wall time from instantiation to the verdict,
//!   minus the time spent in host calls (`describe-key`). A slow KMS therefore never shows up as a
//!   policy "deadline exceeded"; the [`KeyLookup`] bounds its own latency, and should sit behind a
//!   [`CachedKeyLookup`]. Preemption does count, which is one more reason to bound concurrency.
//! - **Errors are not denials.** A trap, deadline, memory overrun or bad verdict is an
//!   [`Outcome::Errored`]; the policy's `failureMode` then refuses the request
//!   ([`DecisionKind::Errored`], code 500) or allows with a warning.
//! - **Audit mode** allows and records the denial as a warning
//!   (`<policy> (audit mode, not enforced): ...`) and the audit annotation `<policy>.denied`.
//!   All annotation keys are `<policy>.<key>`, valid names for the apiserver's
//!   `<webhook>/<key>` form.
//!
//! ```
//! use std::sync::Arc;
//! use secretkms_core::policy::{NoKeyLookup, PolicyConfig, PolicyRuntime, RuntimeConfig, CacheDir};
//! use secretkms_core::review::Review;
//! use secretkms_model::{ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyState};
//!
//! let runtime = PolicyRuntime::new(RuntimeConfig { cache: CacheDir::Disabled, ..Default::default() })?;
//! let policies = runtime.load(&PolicyConfig::builtin(), Arc::new(NoKeyLookup))?;
//!
//! let request = r#"{"uid": "705ab4f5", "kind": {"group": "", "version": "v1", "kind": "Secret"},
//!     "resource": {"group": "", "version": "v1", "resource": "secrets"},
//!     "namespace": "default", "operation": "CREATE", "userInfo": {"username": "alice"},
//!     "object": {"apiVersion": "v1", "kind": "Secret",
//!                "metadata": {"name": "db", "namespace": "default"}, "data": {"password": "czNjcjN0"}}}"#;
//! let mut state = EncryptionState {
//!     declared: Some(Declared { key: "key-1".into(), ..Default::default() }),
//!     key: Some(KeyFacts { key_id: "key-1".into(), state: KeyState::Enabled, state_name: "Enabled".into(),
//!                          spec: "Aliyun_AES_256".into(), ..Default::default() }),
//!     apiserver: Some(ApiserverFacts { kms_configured: true, kms_healthy: true, detail: "ok".into(),
//!                                      ..Default::default() }),
//!     now: 1_760_000_000,
//!     ..Default::default()
//! };
//! let request = Review::decode_request(request)?;
//! assert!(policies.evaluate(&request, &state).allowed());
//!
//! state.key.as_mut().unwrap().state = KeyState::Disabled;
//! state.key.as_mut().unwrap().state_name = "Disabled".into();
//! let decision = policies.evaluate(&request, &state);
//! assert!(!decision.allowed());
//! assert!(decision.message.starts_with("secret-write-guard: "));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod artifact_cache;
mod bindings;
mod block_on;
mod builtin;
mod compiled;
mod config;
mod decision;
mod error;
mod evaluation;
mod host;
mod key_lookup;
mod metrics;
mod outcome;
mod rule;
mod runtime;
mod set;
mod ticker;

pub use artifact_cache::CacheStatus;
pub use builtin::Builtin;
pub use config::{FailureMode, Mode, PolicyConfig, PolicySource, PolicySpec};
pub use decision::{Decision, DecisionKind, PolicyResult};
pub use error::LoadError;
pub use host::{MAX_KEY_LOOKUP_TIME, MAX_KEY_LOOKUPS_PER_EVALUATION};
pub use key_lookup::{CachedKeyLookup, KeyCacheConfig, KeyLookup, LookupFuture, NoKeyLookup};
pub use metrics::{DURATION_BUCKETS_SECONDS, PolicyMetricsSnapshot};
pub use outcome::{ErrorKind, EvaluationError, Outcome, Verdict};
pub use rule::{Operation, Rule};
pub use runtime::{CacheDir, PolicyRuntime, RuntimeConfig};
pub use set::{PolicyInfo, PolicySet, SETTINGS_TIMEOUT_FLOOR};
