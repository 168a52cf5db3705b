//! What the plugin knows about its CMK: the key's resolved id, state and current primary key
//! version, from DescribeKey polled on an interval (and on demand), never per request. KMS
//! allows about 20 DescribeKey calls per second per account, and the apiserver calls Status
//! every 10–60 s per server, so Status answers from this cache.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secretkms_alibaba::kms::{KeyMetadata, KmsClient};

use crate::key_id::KeyVersionRef;

/// The latest DescribeKey outcome.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// The CMK id the configured key resolved to the first time. The plugin stays on it for
    /// its whole life: an alias that is later pointed at another key must not silently make
    /// older seeds undecryptable.
    pub key_id: Option<String>,
    /// Metadata from the last successful DescribeKey.
    pub metadata: Option<KeyMetadata>,
    /// When that succeeded.
    pub observed_at: Option<Instant>,
    /// Why the last attempt failed; `None` after a success.
    pub last_error: Option<String>,
    /// When the last attempt (success or not) finished.
    pub attempted_at: Option<Instant>,
}

impl Observation {
    /// The key_id of the current primary version, once known.
    pub fn current(&self) -> Option<KeyVersionRef> {
        let m = self.metadata.as_ref()?;
        let version = m.primary_key_version.as_deref().filter(|v| !v.is_empty())?;
        Some(KeyVersionRef::new(m.key_id.clone(), version))
    }

    /// `ok`, or why new seeds cannot be wrapped right now. `configured` names the key as the
    /// operator gave it; `stale_after` bounds how old a good observation may be.
    pub fn healthz(&self, configured: &str, stale_after: Duration, now: Instant) -> String {
        let name = self.key_id.as_deref().unwrap_or(configured);
        if let Some(error) = &self.last_error {
            return format!("cannot describe key {name}: {error}");
        }
        let (Some(m), Some(at)) = (&self.metadata, self.observed_at) else {
            return format!("key {name} has not been described yet");
        };
        let age = now.saturating_duration_since(at);
        if age > stale_after {
            return format!(
                "state of key {name} is stale: last described {}s ago",
                age.as_secs()
            );
        }
        match m.key_state.as_str() {
            "Enabled" => {}
            "PendingDeletion" => {
                let date = m.delete_date.as_deref().unwrap_or("an unknown date");
                return format!(
                    "key {name} is PendingDeletion (deleted on {date}); CancelKeyDeletion keeps it"
                );
            }
            "" => return format!("key {name} reports no KeyState"),
            state => return format!("key {name} is {state}; EnableKey makes it usable again"),
        }
        if m.key_usage != "ENCRYPT/DECRYPT" {
            return format!(
                "key {name} has usage {:?}, not ENCRYPT/DECRYPT",
                m.key_usage
            );
        }
        if self.current().is_none() {
            return format!("key {name} reports no primary key version");
        }
        "ok".into()
    }
}

/// The shared, refreshing view of one CMK.
#[derive(Debug)]
pub struct KeyWatch {
    kms: KmsClient,
    configured: String,
    poll_interval: Duration,
    observation: RwLock<Observation>,
    /// Serializes refreshes so concurrent on-demand requests make one DescribeKey call.
    refreshing: tokio::sync::Mutex<()>,
}

/// An on-demand refresh within this long of the previous attempt reuses its result.
const MIN_REFRESH_GAP: Duration = Duration::from_secs(1);

/// Upper bound of the poll delay while the key is unhealthy, so recovery is seen soon.
const MAX_UNHEALTHY_DELAY: Duration = Duration::from_secs(10);

impl KeyWatch {
    /// `configured` is the key as given: an id, `alias/<name>` or an ARN.
    pub fn new(
        kms: KmsClient,
        configured: impl Into<String>,
        poll_interval: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            kms,
            configured: configured.into(),
            poll_interval,
            observation: RwLock::new(Observation::default()),
            refreshing: tokio::sync::Mutex::new(()),
        })
    }

    pub fn kms(&self) -> &KmsClient {
        &self.kms
    }

    /// The key as configured.
    pub fn configured(&self) -> &str {
        &self.configured
    }

    /// A copy of the latest observation.
    pub fn observation(&self) -> Observation {
        self.observation
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Observations older than three poll intervals (at least 30 s) are stale: polling has
    /// stopped working, and a stale "Enabled" must not read as healthy.
    pub fn stale_after(&self) -> Duration {
        (self.poll_interval * 3).max(Duration::from_secs(30))
    }

    /// `ok` or the reason the key is not usable.
    pub fn healthz(&self) -> String {
        self.observation()
            .healthz(&self.configured, self.stale_after(), Instant::now())
    }

    /// Calls DescribeKey now unless an attempt finished less than `min_gap` ago, and returns
    /// the resulting observation.
    pub async fn refresh(&self, min_gap: Duration) -> Observation {
        let _guard = self.refreshing.lock().await;
        let before = self.observation();
        if before.attempted_at.is_some_and(|at| at.elapsed() < min_gap) {
            return before;
        }
        // Once resolved, always describe the pinned id (see `Observation::key_id`).
        let target = before
            .key_id
            .clone()
            .unwrap_or_else(|| self.configured.clone());
        let outcome = self.kms.describe_key(&target).await;
        let mut obs = self.observation.write().unwrap_or_else(|p| p.into_inner());
        obs.attempted_at = Some(Instant::now());
        match outcome {
            Ok(response) => {
                let m = response.key_metadata;
                let previous = obs.current();
                if obs.key_id.is_none() {
                    tracing::info!(configured = %self.configured, key_id = %m.key_id, "resolved kms key");
                    obs.key_id = Some(m.key_id.clone());
                }
                if obs.key_id.as_deref() != Some(m.key_id.as_str()) {
                    obs.last_error = Some(format!(
                        "DescribeKey for {target} answered for key {}",
                        m.key_id
                    ));
                } else {
                    obs.last_error = None;
                    obs.metadata = Some(m);
                    obs.observed_at = obs.attempted_at;
                }
                let current = obs.current();
                if current != previous
                    && let Some(current) = &current
                {
                    tracing::info!(key_id = %current, "kms v2 key_id is now the key's primary version");
                }
            }
            Err(e) => {
                tracing::warn!(key = %target, error = %e, "DescribeKey failed");
                obs.last_error = Some(e.to_string());
            }
        }
        obs.clone()
    }

    /// An on-demand refresh, e.g. after Encrypt saw a version other than the cached one.
    pub async fn refresh_soon(&self) -> Observation {
        self.refresh(MIN_REFRESH_GAP).await
    }

    /// Polls until the process ends: every poll interval while healthy, sooner while not.
    pub async fn poll(self: Arc<Self>) {
        loop {
            let obs = self.refresh(Duration::ZERO).await;
            let healthy = obs.healthz(&self.configured, self.stale_after(), Instant::now()) == "ok";
            let delay = if healthy {
                self.poll_interval
            } else {
                self.poll_interval.min(MAX_UNHEALTHY_DELAY)
            };
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enabled() -> KeyMetadata {
        KeyMetadata {
            key_id: "key-1".into(),
            key_state: "Enabled".into(),
            key_usage: "ENCRYPT/DECRYPT".into(),
            primary_key_version: Some("v-1".into()),
            ..Default::default()
        }
    }

    fn observed(m: KeyMetadata, at: Instant) -> Observation {
        Observation {
            key_id: Some(m.key_id.clone()),
            metadata: Some(m),
            observed_at: Some(at),
            attempted_at: Some(at),
            last_error: None,
        }
    }

    const STALE: Duration = Duration::from_secs(30);

    #[test]
    fn an_enabled_key_with_a_primary_version_is_ok() {
        let now = Instant::now();
        let obs = observed(enabled(), now);
        assert_eq!(obs.healthz("alias/k", STALE, now), "ok");
        assert_eq!(obs.current().unwrap().to_string(), "key-1/v-1");
    }

    #[test]
    fn states_other_than_enabled_name_the_key_and_the_way_back() {
        let now = Instant::now();
        let disabled = observed(
            KeyMetadata {
                key_state: "Disabled".into(),
                ..enabled()
            },
            now,
        );
        assert_eq!(
            disabled.healthz("alias/k", STALE, now),
            "key key-1 is Disabled; EnableKey makes it usable again"
        );
        let pending = observed(
            KeyMetadata {
                key_state: "PendingDeletion".into(),
                delete_date: Some("2030-01-08T00:00:00Z".into()),
                ..enabled()
            },
            now,
        );
        let h = pending.healthz("alias/k", STALE, now);
        assert!(
            h.contains("PendingDeletion") && h.contains("2030-01-08T00:00:00Z"),
            "{h}"
        );
        let signing = observed(
            KeyMetadata {
                key_usage: "SIGN/VERIFY".into(),
                ..enabled()
            },
            now,
        );
        assert!(signing.healthz("k", STALE, now).contains("SIGN/VERIFY"));
        let no_version = observed(
            KeyMetadata {
                primary_key_version: None,
                ..enabled()
            },
            now,
        );
        assert!(
            no_version
                .healthz("k", STALE, now)
                .contains("no primary key version")
        );
    }

    #[test]
    fn an_error_or_no_observation_is_never_ok() {
        let now = Instant::now();
        let never = Observation::default();
        assert_eq!(
            never.healthz("alias/k", STALE, now),
            "key alias/k has not been described yet"
        );
        let failed = Observation {
            last_error: Some("kms DescribeKey: request to 127.0.0.1:9 failed".into()),
            ..observed(enabled(), now)
        };
        let h = failed.healthz("alias/k", STALE, now);
        assert!(
            h.starts_with("cannot describe key key-1: kms DescribeKey"),
            "{h}"
        );
    }

    #[test]
    fn a_stale_observation_is_not_ok() {
        let then = Instant::now();
        let obs = observed(enabled(), then);
        let later = then + Duration::from_secs(31);
        let h = obs.healthz("k", STALE, later);
        assert_eq!(h, "state of key key-1 is stale: last described 31s ago");
    }
}
