//! The per-evaluation host state: resource limits (recording when the memory cap was hit), the
//! guest-time budget behind the epoch deadline, the review's wall-clock deadline, and the
//! `describe-key` import within its call budget.

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

/// `describe-key` calls one evaluation may make. The default policies make one; a policy that
/// loops on it would spend the account's DescribeKey quota, which the KMS plugin shares.
pub const MAX_KEY_LOOKUPS_PER_EVALUATION: u32 = 4;

/// Longest one `describe-key` may take during an admission, however far the review's deadline
/// is: DescribeKey answers in tens of milliseconds, and the KMS client's own retries (up to
/// 4 × 10 s) belong to the poller, not to a review the apiserver is waiting on.
pub const MAX_KEY_LOOKUP_TIME: Duration = Duration::from_secs(2);

/// Kept back from the review's deadline for the policy to decide on a lookup's error.
const DECIDE_MARGIN: Duration = Duration::from_millis(50);

/// How an evaluation runs, and so how `describe-key` may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Driver {
    /// Driven to completion on the calling thread, which may block: lookups call
    /// [`KeyLookup::describe_key_within`].
    Blocking,
    /// Polled by an async executor on a thread that must not block: lookups await
    /// [`KeyLookup::describe_key_async`], and the guest yields at every epoch tick.
    Async,
}

pub(crate) struct HostState {
    limits: StoreLimits,
    pub(crate) driver: Driver,
    memory_bytes: usize,
    keys: Arc<dyn KeyLookup>,
    /// When the evaluation started; guest time is wall time minus `host_time`.
    started: Instant,
    host_time: Duration,
    timeout: Duration,
    /// Set when the limiter refused a memory growth, so the resulting trap (or a guest's abort
    /// after a failed allocation) is reported as out-of-memory.
    pub(crate) memory_refused: Option<usize>,
    /// Set when the guest grew a memory after instantiation: the slow path the kit's arena
    /// allocator exists to avoid (see `PolicyMetricsSnapshot::memory_grown`).
    pub(crate) grew_memory: bool,
    /// Set when the epoch callback ended the evaluation.
    pub(crate) deadline_hit: bool,
    /// The review's deadline, covering guest and host time alike; None outside admission
    /// (`kubectl secretkms policy run`).
    until: Option<Instant>,
    /// Set when the epoch callback ended the evaluation at `until`.
    pub(crate) review_deadline_hit: bool,
    lookups_left: u32,
}

impl HostState {
    pub(crate) fn new(
        limits: Limits,
        keys: Arc<dyn KeyLookup>,
        until: Option<Instant>,
        driver: Driver,
    ) -> Self {
        Self {
            driver,
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
            grew_memory: false,
            deadline_hit: false,
            until,
            review_deadline_hit: false,
            lookups_left: MAX_KEY_LOOKUPS_PER_EVALUATION,
        }
    }

    /// False once the review's deadline has passed: the evaluation must stop, whatever guest
    /// time is left.
    pub(crate) fn within_review_deadline(&self) -> bool {
        self.until.is_none_or(|until| Instant::now() < until)
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
        // Instantiation asks for the initial size with `current` 0; anything later is a grow.
        self.grew_memory |= current > 0;
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
    async fn describe_key(&mut self, key: String) -> Result<wit::KeyFacts, String> {
        if key.len() > MAX_KEY_NAME_BYTES {
            return Err(format!(
                "InvalidParameter: key name is longer than {MAX_KEY_NAME_BYTES} bytes"
            ));
        }
        if self.lookups_left == 0 {
            return Err(format!(
                "LimitExceeded: at most {MAX_KEY_LOOKUPS_PER_EVALUATION} describe-key calls per \
                 evaluation"
            ));
        }
        self.lookups_left -= 1;
        let started = Instant::now();
        let within = match self.until {
            None => None,
            Some(until) => {
                let left = until
                    .saturating_duration_since(started)
                    .saturating_sub(DECIDE_MARGIN);
                if left.is_zero() {
                    return Err(
                        "Timeout: the review's deadline leaves no time to ask KMS".to_owned()
                    );
                }
                Some(left.min(MAX_KEY_LOOKUP_TIME))
            }
        };
        let keys = Arc::clone(&self.keys);
        let answer = match (self.driver, within) {
            (Driver::Blocking, None) => keys.describe_key(&key),
            (Driver::Blocking, Some(within)) => keys.describe_key_within(&key, within),
            // Outside a review nothing else bounds the wait on an executor's thread.
            (Driver::Async, within) => {
                keys.describe_key_async(&key, within.unwrap_or(MAX_KEY_LOOKUP_TIME))
                    .await
            }
        };
        self.host_time += started.elapsed();
        answer.map(|facts| bindings::key_facts(&facts))
    }
}

impl wit::Host for HostState {}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use secretkms_model::KeyFacts;

    use super::*;
    use crate::policy::bindings::secretkms::policy::host::Host as _;
    use crate::policy::block_on::block_on;

    /// Records how long each call was allowed, and answers not found.
    #[derive(Default)]
    struct Recording(Mutex<Vec<Option<Duration>>>);

    impl KeyLookup for Recording {
        fn describe_key(&self, _key: &str) -> Result<KeyFacts, String> {
            self.0.lock().unwrap().push(None);
            Err("Forbidden.KeyNotFound".into())
        }

        fn describe_key_within(&self, _key: &str, within: Duration) -> Result<KeyFacts, String> {
            self.0.lock().unwrap().push(Some(within));
            Err("Forbidden.KeyNotFound".into())
        }
    }

    fn state(keys: &Arc<Recording>, until: Option<Instant>) -> HostState {
        let limits = Limits {
            timeout: Duration::from_millis(50),
            memory_bytes: 1 << 20,
        };
        HostState::new(limits, keys.clone(), until, Driver::Blocking)
    }

    #[test]
    fn lookups_stop_at_the_call_budget() {
        let keys = Arc::new(Recording::default());
        let mut host = state(&keys, None);
        for _ in 0..MAX_KEY_LOOKUPS_PER_EVALUATION {
            assert!(
                block_on(host.describe_key("k".into()))
                    .unwrap_err()
                    .contains("KeyNotFound")
            );
        }
        let refused = block_on(host.describe_key("k".into())).unwrap_err();
        assert!(refused.starts_with("LimitExceeded"), "{refused}");
        assert_eq!(
            keys.0.lock().unwrap().len(),
            MAX_KEY_LOOKUPS_PER_EVALUATION as usize,
            "the refused call never reached the lookup"
        );
    }

    #[test]
    fn lookups_in_a_review_are_bounded_by_its_deadline_and_a_cap() {
        let keys = Arc::new(Recording::default());
        let mut far = state(&keys, Some(Instant::now() + Duration::from_secs(30)));
        block_on(far.describe_key("k".into())).unwrap_err();
        let mut near = state(&keys, Some(Instant::now() + Duration::from_millis(300)));
        block_on(near.describe_key("k".into())).unwrap_err();
        let mut past = state(&keys, Some(Instant::now()));
        let late = block_on(past.describe_key("k".into())).unwrap_err();
        assert!(late.starts_with("Timeout"), "{late}");
        assert!(!past.within_review_deadline());

        let asked = keys.0.lock().unwrap().clone();
        assert_eq!(
            asked.len(),
            2,
            "the call past the deadline never reached the lookup"
        );
        assert_eq!(asked[0], Some(MAX_KEY_LOOKUP_TIME));
        assert!(asked[1].unwrap() <= Duration::from_millis(250), "{asked:?}");
    }
}
