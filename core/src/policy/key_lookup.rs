//! How the host answers a policy's `describe-key` import: a [`KeyLookup`] trait the webhook plugs
//! its KMS client into, a cache in front of it, and the two lookups the runtime ships with (a
//! fixed map for `policy run/test`, and one that refuses every lookup).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::state::KeyFacts;

/// Answers `describe-key` for policies.
///
/// Called synchronously on the evaluating thread, while the policy waits: implementations that
/// reach the network must bound their own latency (the runtime does not count host time against
/// the policy's deadline, see [`super::PolicySpec::timeout_ms`]). Wrap slow lookups in
/// [`CachedKeyLookup`].
pub trait KeyLookup: Send + Sync {
    /// Describes a key by id, alias (`alias/...`) or ARN. Err carries the KMS error code and
    /// message, e.g. `Forbidden.KeyNotFound: ...`; it is handed to the policy as is.
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String>;
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

/// Canned answers, for `kubectl secretkms policy run/test` and tests.
///
/// A key is found by the name it was stored under, by its `keyId` or by its `arn`; any other key
/// answers the KMS's own not-found error.
#[derive(Debug, Clone, Default)]
pub struct FixedKeyLookup {
    keys: HashMap<String, KeyFacts>,
}

/// Errors reading a `keys.json` file.
#[derive(Debug, thiserror::Error)]
pub enum KeysFileError {
    #[error("cannot read keys file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid keys file {path}: expected an object of key name to key facts")]
    Parse {
        path: String,
        #[source]
        source: serde_json::Error,
    },
}

impl FixedKeyLookup {
    /// Builds the lookup from `name → facts`; each entry is also reachable by its key id and ARN.
    pub fn new(keys: impl IntoIterator<Item = (String, KeyFacts)>) -> Self {
        let mut map = HashMap::new();
        for (name, facts) in keys {
            for alias in [Some(&facts.key_id), facts.arn.as_ref()]
                .into_iter()
                .flatten()
            {
                if !alias.is_empty() {
                    map.entry(alias.clone()).or_insert_with(|| facts.clone());
                }
            }
            map.insert(name, facts);
        }
        Self { keys: map }
    }

    /// Parses `keys.json`: an object mapping a key name (id, alias or ARN) to its facts, in the
    /// state file's camelCase form (`{"alias/k8s": {"keyId": "...", "state": "Enabled", ...}}`).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let keys: HashMap<String, KeyFacts> = serde_json::from_str(json)?;
        Ok(Self::new(keys))
    }

    /// Reads and parses a `keys.json` file.
    pub fn from_file(path: &Path) -> Result<Self, KeysFileError> {
        let shown = path.display().to_string();
        let json = std::fs::read_to_string(path).map_err(|source| KeysFileError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_json(&json).map_err(|source| KeysFileError::Parse {
            path: shown,
            source,
        })
    }
}

impl KeyLookup for FixedKeyLookup {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        self.keys
            .get(key)
            .cloned()
            .ok_or_else(|| format!("Forbidden.KeyNotFound: the specified key {key} does not exist"))
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
        let now = Instant::now();
        if let Some(entry) = self.lock().get(key)
            && now.duration_since(entry.stored) < self.ttl_of(&entry.answer)
        {
            return entry.answer.clone();
        }
        let answer = self.inner.describe_key(key);
        if self.config.capacity == 0 {
            return answer;
        }
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
                stored: Instant::now(),
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::state::KeyState;

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
    fn fixed_lookup_finds_keys_by_name_id_and_arn() {
        let lookup = FixedKeyLookup::from_json(
            r#"{"alias/k8s": {"keyId": "key-1", "arn": "acs:kms:cn-hangzhou:1:key/key-1", "state": "Disabled"}}"#,
        )
        .unwrap();
        for name in ["alias/k8s", "key-1", "acs:kms:cn-hangzhou:1:key/key-1"] {
            assert_eq!(
                lookup.describe_key(name).unwrap().state,
                KeyState::Disabled,
                "{name}"
            );
        }
        let err = lookup.describe_key("key-2").unwrap_err();
        assert!(
            err.starts_with("Forbidden.KeyNotFound") && err.contains("key-2"),
            "{err}"
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
