//! How the host answers a policy's `describe-key` import: a [`KeyLookup`] trait the webhook plugs
//! its KMS client into, a cache in front of it, and the two lookups the runtime ships with (the
//! model's canned answers for `policy run/test`, and one that refuses every lookup).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use secretkms_model::{CannedKeys, KeyFacts};

/// A lookup in flight, as [`PolicySet::evaluate_async`](super::PolicySet::evaluate_async) awaits it.
pub type LookupFuture<'a> = Pin<Box<dyn Future<Output = Result<KeyFacts, String>> + Send + 'a>>;

/// Answers `describe-key` for policies.
///
/// Synchronous evaluations call [`KeyLookup::describe_key_within`] on the evaluating thread;
/// [`PolicySet::evaluate_async`](super::PolicySet::evaluate_async) awaits
/// [`KeyLookup::describe_key_async`] on the caller's executor. Either way the policy waits:
/// implementations that reach the network must bound their own latency (the runtime does not
/// count host time against the policy's deadline, see [`super::PolicySpec::timeout_ms`]). Wrap
/// slow lookups in [`CachedKeyLookup`].
pub trait KeyLookup: Send + Sync {
    /// Describes a key by id, alias (`alias/...`) or ARN. Err carries the KMS error code and
    /// message, e.g. `Forbidden.KeyNotFound: ...`; it is handed to the policy as is.
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String>;

    /// Like [`KeyLookup::describe_key`], answering within `within` or erring with a `Timeout`:
    /// an admission must be decided before the apiserver's deadline, so a lookup that cannot
    /// finish in time becomes an error the policy decides on, never a late answer. Lookups that
    /// cannot block (canned, none) need not override it.
    fn describe_key_within(&self, key: &str, within: Duration) -> Result<KeyFacts, String> {
        let _ = within;
        self.describe_key(key)
    }

    /// [`KeyLookup::describe_key_within`] for an evaluation running on an async executor's
    /// thread, which must not block. The default answers synchronously, which is right for
    /// lookups that never block (canned, none, cached hits); one that reaches the network must
    /// override it with real async I/O.
    fn describe_key_async<'a>(&'a self, key: &'a str, within: Duration) -> LookupFuture<'a> {
        Box::pin(std::future::ready(self.describe_key_within(key, within)))
    }
}

/// The lookup for hosts with no KMS access: every call errs, so a policy that needs live key
/// facts decides on that error (typically a denial naming it).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeyLookup;

impl KeyLookup for NoKeyLookup {
    fn describe_key(&self, _key: &str) -> Result<KeyFacts, String> {
        Err("no key lookup configured".to_owned())
    }
}

/// Canned answers, for `kubectl secretkms policy run/test` and tests: found by name, key id or
/// ARN, anything else not found, exactly as the policy kit's native case runner answers.
impl KeyLookup for CannedKeys {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        self.lookup(key)
    }
}

/// Sizing of a [`CachedKeyLookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCacheConfig {
    /// How long a successful answer is reused.
    pub ttl: Duration,
    /// How long an error is reused; short, so a fixed KMS problem clears quickly, but non-zero so
    /// a burst of admissions does not hammer a failing KMS.
    pub error_ttl: Duration,
    /// Most entries kept; the oldest is evicted first.
    pub capacity: usize,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            error_ttl: Duration::from_secs(5),
            capacity: 256,
        }
    }
}

/// A TTL cache with a bounded size in front of another [`KeyLookup`].
///
/// Answers, including errors, are cached per exact key string. Concurrent misses for the same key
/// may each reach the inner lookup; that is rare and harmless, and it keeps the lock out of the
/// (possibly slow) inner call.
#[derive(Debug)]
pub struct CachedKeyLookup<L> {
    inner: L,
    config: KeyCacheConfig,
    entries: Mutex<HashMap<String, CacheEntry>>,
}

#[derive(Debug, Clone)]
struct CacheEntry {
    stored: Instant,
    answer: Result<KeyFacts, String>,
}

impl<L: KeyLookup> CachedKeyLookup<L> {
    pub fn new(inner: L, config: KeyCacheConfig) -> Self {
        Self {
            inner,
            config,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The wrapped lookup.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// Drops every cached answer, e.g. after the operator changed the declared key.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CacheEntry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn ttl_of(&self, answer: &Result<KeyFacts, String>) -> Duration {
        if answer.is_ok() {
            self.config.ttl
        } else {
            self.config.error_ttl
        }
    }
}

impl<L: KeyLookup> KeyLookup for CachedKeyLookup<L> {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        self.fresh(key)
            .unwrap_or_else(|| self.store(key, self.inner.describe_key(key)))
    }

    fn describe_key_within(&self, key: &str, within: Duration) -> Result<KeyFacts, String> {
        self.fresh(key)
            .unwrap_or_else(|| self.store(key, self.inner.describe_key_within(key, within)))
    }

    /// A hit is answered at once; only a miss awaits the inner lookup.
    fn describe_key_async<'a>(&'a self, key: &'a str, within: Duration) -> LookupFuture<'a> {
        match self.fresh(key) {
            Some(answer) => Box::pin(std::future::ready(answer)),
            None => Box::pin(async move {
                let answer = self.inner.describe_key_async(key, within).await;
                self.store(key, answer)
            }),
        }
    }
}

impl<L: KeyLookup> CachedKeyLookup<L> {
    /// The cached answer for `key`, if it is within its TTL.
    fn fresh(&self, key: &str) -> Option<Result<KeyFacts, String>> {
        let entries = self.lock();
        let entry = entries.get(key)?;
        (entry.stored.elapsed() < self.ttl_of(&entry.answer)).then(|| entry.answer.clone())
    }

    /// Stores `answer` for its TTL (making room within the capacity) and hands it back.
    fn store(&self, key: &str, answer: Result<KeyFacts, String>) -> Result<KeyFacts, String> {
        if self.config.capacity == 0 {
            return answer;
        }
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() >= self.config.capacity && !entries.contains_key(key) {
            entries.retain(|_, e| now.duration_since(e.stored) < self.ttl_of(&e.answer));
            if entries.len() >= self.config.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, e)| e.stored)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(
            key.to_owned(),
            CacheEntry {
                stored: now,
                answer: answer.clone(),
            },
        );
        answer
    }
}

impl<L: KeyLookup + ?Sized> KeyLookup for std::sync::Arc<L> {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        (**self).describe_key(key)
    }

    fn describe_key_within(&self, key: &str, within: Duration) -> Result<KeyFacts, String> {
        (**self).describe_key_within(key, within)
    }

    fn describe_key_async<'a>(&'a self, key: &'a str, within: Duration) -> LookupFuture<'a> {
        (**self).describe_key_async(key, within)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use secretkms_model::KeyState;

    struct Counting(AtomicUsize);

    impl KeyLookup for Counting {
        fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
            self.0.fetch_add(1, Ordering::SeqCst);
            if key.starts_with("missing") {
                Err(format!("Forbidden.KeyNotFound: {key}"))
            } else {
                Ok(KeyFacts {
                    key_id: key.to_owned(),
                    ..Default::default()
                })
            }
        }
    }

    fn calls(c: &CachedKeyLookup<Counting>) -> usize {
        c.inner().0.load(Ordering::SeqCst)
    }

    #[test]
    fn canned_keys_answer_as_the_model_says() {
        let canned = CannedKeys::new().with(
            "alias/k8s",
            KeyFacts {
                key_id: "key-1".into(),
                state: KeyState::Disabled,
                ..Default::default()
            },
        );
        let lookup: &dyn KeyLookup = &canned;
        assert_eq!(
            lookup.describe_key("key-1").unwrap().state,
            KeyState::Disabled
        );
        assert_eq!(
            lookup.describe_key("key-2").unwrap_err(),
            secretkms_model::canned_keys::not_found("key-2")
        );
    }

    #[test]
    fn no_lookup_says_why() {
        assert_eq!(
            NoKeyLookup.describe_key("k").unwrap_err(),
            "no key lookup configured"
        );
    }

    #[test]
    fn cache_reuses_answers_and_errors_within_their_ttl() {
        let c = CachedKeyLookup::new(Counting(AtomicUsize::new(0)), KeyCacheConfig::default());
        c.describe_key("a").unwrap();
        c.describe_key("a").unwrap();
        c.describe_key("missing").unwrap_err();
        c.describe_key("missing").unwrap_err();
        assert_eq!(calls(&c), 2);
        c.clear();
        c.describe_key("a").unwrap();
        assert_eq!(calls(&c), 3);
    }

    #[test]
    fn cache_expires_entries() {
        let config = KeyCacheConfig {
            ttl: Duration::ZERO,
            error_ttl: Duration::ZERO,
            capacity: 8,
        };
        let c = CachedKeyLookup::new(Counting(AtomicUsize::new(0)), config);
        c.describe_key("a").unwrap();
        c.describe_key("a").unwrap();
        assert_eq!(calls(&c), 2);
    }

    #[test]
    fn cache_stays_within_capacity() {
        let config = KeyCacheConfig {
            capacity: 2,
            ..KeyCacheConfig::default()
        };
        let c = CachedKeyLookup::new(Counting(AtomicUsize::new(0)), config);
        for key in ["a", "b", "c", "d"] {
            c.describe_key(key).unwrap();
        }
        assert_eq!(c.lock().len(), 2);
        // The newest entries survived.
        c.describe_key("d").unwrap();
        assert_eq!(calls(&c), 4);
    }
}
