//! The per-evaluation host state: resource limits (recording when the memory cap was hit), the
//! guest-time budget behind the epoch deadline, and the `describe-key` import.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

use super::KeyLookup;
use super::bindings::{self, secretkms::policy::host, wit};

/// Longest key name passed to a [`KeyLookup`]; KMS key ids and ARNs are far shorter, and a guest
/// must not make the host cache megabytes.
const MAX_KEY_NAME_BYTES: usize = 2048;

/// Limits of one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub timeout: Duration,
    pub memory_bytes: usize,
}

pub(crate) struct HostState {
    limits: StoreLimits,
    memory_bytes: usize,
    keys: Arc<dyn KeyLookup>,
    /// When the evaluation started; guest time is wall time minus `host_time`.
    started: Instant,
    host_time: Duration,
    timeout: Duration,
    /// Set when the limiter refused a memory growth, so the resulting trap (or a guest's abort
    /// after a failed allocation) is reported as out-of-memory.
    pub(crate) memory_refused: Option<usize>,
    /// Set when the epoch callback ended the evaluation.
    pub(crate) deadline_hit: bool,
}

impl HostState {
    pub(crate) fn new(limits: Limits, keys: Arc<dyn KeyLookup>) -> Self {
        Self {
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                // A policy component holds a handful of core instances (the module plus
                // wit-component's shims); these caps stop anything larger.
                .instances(16)
                .memories(4)
                .tables(8)
                .table_elements(100_000)
                .trap_on_grow_failure(true)
                .build(),
            memory_bytes: limits.memory_bytes,
            keys,
            started: Instant::now(),
            host_time: Duration::ZERO,
            timeout: limits.timeout,
            memory_refused: None,
            deadline_hit: false,
        }
    }

    /// Restarts the clock; called right before instantiation.
    pub(crate) fn start_clock(&mut self) {
        self.started = Instant::now();
        self.host_time = Duration::ZERO;
    }

    /// Guest time still allowed, or None when the budget is spent.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let guest = self.started.elapsed().saturating_sub(self.host_time);
        self.timeout.checked_sub(guest).filter(|d| !d.is_zero())
    }

    pub(crate) fn memory_limit(&self) -> usize {
        self.memory_bytes
    }
}

impl ResourceLimiter for HostState {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let r = self.limits.memory_growing(current, desired, maximum);
        if !matches!(r, Ok(true)) {
            self.memory_refused = Some(desired);
        }
        r
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_refused.get_or_insert(0);
        self.limits.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.limits.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
}

impl host::Host for HostState {
    /// Time spent here is added to `host_time` and so not charged to the policy's deadline:
    /// the lookup (and its cache) bounds its own latency.
    fn describe_key(&mut self, key: String) -> Result<wit::KeyFacts, String> {
        if key.len() > MAX_KEY_NAME_BYTES {
            return Err(format!(
                "InvalidParameter: key name is longer than {MAX_KEY_NAME_BYTES} bytes"
            ));
        }
        let started = Instant::now();
        let answer = self.keys.describe_key(&key);
        self.host_time += started.elapsed();
        answer.map(|facts| bindings::key_facts(&facts))
    }
}

impl wit::Host for HostState {}
