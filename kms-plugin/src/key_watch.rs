//! What the plugin knows about its CMK: the key's resolved id, state and current primary key
//! version, from DescribeKey polled on an interval (and on demand), never per request, and
//! whether Encrypt and Decrypt with it work, from real calls and a self-test round trip on the
//! same interval. KMS allows about 20 DescribeKey calls per second per account, and the
//! apiserver calls Status every 10–60 s per server, so Status answers from this cache.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use secretkms_alibaba::kms::{
    Decrypted, EncryptResponse, KeyArn, KeyMetadata, KmsClient, KmsError,
};

use crate::health::{Capability, Failure};
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

    /// The key's region, from its ARN.
    pub fn region(&self) -> Option<String> {
        let arn = &self.metadata.as_ref()?.arn;
        KeyArn::parse(arn).map(|a| a.region)
    }

    /// The last good DescribeKey said Enabled.
    pub fn enabled(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.key_state == "Enabled")
    }
}

/// How often the key is looked at and how long failures are tolerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchConfig {
    /// DescribeKey and self-test period (sooner, at most every 10 s, while unhealthy).
    pub poll_interval: Duration,
    /// How long transient failures (throttling, timeouts, 5xx) of DescribeKey, Encrypt and
    /// Decrypt leave healthz `ok`; at least three poll intervals.
    pub failure_grace: Duration,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(30),
            failure_grace: Duration::from_secs(120),
        }
    }
}

impl WatchConfig {
    /// How long the last good DescribeKey and the last successful Encrypt/Decrypt stay trusted
    /// while calls fail: `failure_grace`, and never less than three poll intervals, so the
    /// time between two polls never reads as an outage.
    pub fn grace(&self) -> Duration {
        self.failure_grace.max(self.poll_interval * 3)
    }
}

/// The shared, refreshing view of one CMK.
#[derive(Debug)]
pub struct KeyWatch {
    kms: KmsClient,
    configured: String,
    config: WatchConfig,
    observation: RwLock<Observation>,
    capability: RwLock<Capability>,
    /// Serializes refreshes so concurrent on-demand requests make one DescribeKey call.
    refreshing: tokio::sync::Mutex<()>,
}

/// An on-demand refresh within this long of the previous attempt reuses its result.
const MIN_REFRESH_GAP: Duration = Duration::from_secs(1);

/// Upper bound of the poll delay while the key is unhealthy, so recovery is seen soon.
const MAX_UNHEALTHY_DELAY: Duration = Duration::from_secs(10);

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|p| p.into_inner()).clone()
}

impl KeyWatch {
    /// `configured` is the key as given: an id, `alias/<name>` or an ARN.
    pub fn new(kms: KmsClient, configured: impl Into<String>, config: WatchConfig) -> Arc<Self> {
        Arc::new(Self {
            kms,
            configured: configured.into(),
            config,
            observation: RwLock::new(Observation::default()),
            capability: RwLock::new(Capability::default()),
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

    pub fn config(&self) -> WatchConfig {
        self.config
    }

    /// A copy of the latest observation.
    pub fn observation(&self) -> Observation {
        read(&self.observation)
    }

    /// A copy of the Encrypt/Decrypt evidence.
    pub fn capability(&self) -> Capability {
        read(&self.capability)
    }

    /// See [`WatchConfig::grace`].
    pub fn grace(&self) -> Duration {
        self.config.grace()
    }

    /// The key's name for messages: the resolved id once known.
    pub fn name(&self) -> String {
        self.observation()
            .key_id
            .unwrap_or_else(|| self.configured.clone())
    }

    /// `ok` or the reason the plugin cannot serve (see [`crate::health`]).
    pub fn healthz(&self) -> String {
        crate::health::healthz(
            &self.observation(),
            &self.capability(),
            &self.name(),
            self.grace(),
            Instant::now(),
        )
    }

    /// KMS Encrypt with `key`, recorded as evidence. A refusal by key state or existence
    /// describes the key again first (at most once per second), so Status then gives KMS's
    /// own account of the key; a primary version other than the described one (a rotation
    /// since the last poll) has it described again in the background.
    pub async fn encrypt(
        self: &Arc<Self>,
        key: &str,
        plaintext: &[u8],
    ) -> Result<EncryptResponse, KmsError> {
        self.encrypt_then_refresh(key, plaintext, MIN_REFRESH_GAP)
            .await
    }

    /// [`Self::encrypt`], describing the key again on a refusal unless an attempt finished
    /// less than `refresh_gap` ago. The self-test, which runs once per poll, passes zero.
    pub(crate) async fn encrypt_then_refresh(
        self: &Arc<Self>,
        key: &str,
        plaintext: &[u8],
        refresh_gap: Duration,
    ) -> Result<EncryptResponse, KmsError> {
        let outcome = self.kms.encrypt(key, plaintext, None).await;
        match &outcome {
            Ok(wrapped) => {
                let now = Instant::now();
                self.update_capability(|c| c.encrypt.succeeded(now));
                let used = KeyVersionRef::new(&wrapped.key_id, &wrapped.key_version_id);
                if self.observation().current().as_ref() != Some(&used) {
                    tracing::info!(key_id = %used, "encrypt used a key version other than the described one; describing the key again");
                    let watch = Arc::clone(self);
                    tokio::spawn(async move { watch.refresh_soon().await });
                }
            }
            Err(e) => {
                if matches!(e, KmsError::KeyState(_) | KmsError::KeyNotFound(_)) {
                    self.refresh(refresh_gap).await;
                }
                let failure = Failure::from_kms(Instant::now(), e);
                self.update_capability(|c| c.encrypt.failed(failure));
            }
        }
        outcome
    }

    /// KMS Decrypt of any blob the account can decrypt. Only a success with this plugin's own
    /// key counts as evidence: a failure may be a foreign or damaged blob, which says nothing
    /// about the key (the self-test checks that).
    pub async fn decrypt(&self, blob: &str) -> Result<Decrypted, KmsError> {
        let outcome = self.kms.decrypt(blob, None).await;
        if let Ok(d) = &outcome
            && self.observation().key_id.as_deref() == Some(d.key_id.as_str())
        {
            let now = Instant::now();
            self.update_capability(|c| c.decrypt.succeeded(now));
        }
        outcome
    }

    /// Records the outcome of a Decrypt of a blob this plugin's key made (the self-test).
    pub(crate) fn record_own_decrypt(&self, outcome: Result<(), Failure>) {
        let now = Instant::now();
        self.update_capability(|c| match outcome {
            Ok(()) => c.decrypt.succeeded(now),
            Err(failure) => c.decrypt.failed(failure),
        });
    }

    fn update_capability(&self, change: impl FnOnce(&mut Capability)) {
        change(&mut self.capability.write().unwrap_or_else(|p| p.into_inner()));
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
                    tracing::info!(key_version = %current, "the key's primary version is now described");
                }
            }
            Err(e) => {
                let grace = self.grace().as_secs();
                match obs.observed_at {
                    Some(at) => tracing::warn!(
                        key = %target, error = %e,
                        "DescribeKey failed; keeping the state described {}s ago for up to {grace}s",
                        at.elapsed().as_secs()
                    ),
                    None => tracing::warn!(key = %target, error = %e, "DescribeKey failed"),
                }
                obs.last_error = Some(e.to_string());
            }
        }
        obs.clone()
    }

    /// An on-demand refresh, e.g. after Encrypt saw a version other than the cached one.
    pub async fn refresh_soon(&self) -> Observation {
        self.refresh(MIN_REFRESH_GAP).await
    }

    /// Polls until the process ends: DescribeKey, then a self-test round trip unless real
    /// calls proved Encrypt and Decrypt within the interval; every poll interval while
    /// healthy, sooner while not.
    pub async fn poll(self: Arc<Self>) {
        loop {
            let obs = self.refresh(Duration::ZERO).await;
            let capability = self.capability();
            let interval = self.config.poll_interval;
            let now = Instant::now();
            let proven = capability.encrypt.recently_ok(interval, now)
                && capability.decrypt.recently_ok(interval, now);
            // A key KMS describes as not Enabled is unhealthy already; wait for it to change.
            if obs.enabled() && !proven {
                crate::self_test::run(&self).await;
            }
            let delay = if self.healthz() == "ok" {
                interval
            } else {
                interval.min(MAX_UNHEALTHY_DELAY)
            };
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_version_and_region_come_from_the_description() {
        let obs = Observation {
            key_id: Some("key-1".into()),
            metadata: Some(KeyMetadata {
                key_id: "key-1".into(),
                key_state: "Enabled".into(),
                arn: "acs:kms:cn-beijing:123:key/key-1".into(),
                primary_key_version: Some("v-1".into()),
                ..Default::default()
            }),
            ..Observation::default()
        };
        assert_eq!(obs.current().unwrap().to_string(), "key-1/v-1");
        assert_eq!(obs.region().as_deref(), Some("cn-beijing"));
        assert!(obs.enabled());
        assert!(Observation::default().current().is_none());
    }

    #[test]
    fn the_grace_is_never_shorter_than_three_polls() {
        let config = |poll: u64, failure_grace: u64| WatchConfig {
            poll_interval: Duration::from_secs(poll),
            failure_grace: Duration::from_secs(failure_grace),
        };
        assert_eq!(config(30, 120).grace(), Duration::from_secs(120));
        assert_eq!(config(60, 120).grace(), Duration::from_secs(180));
    }
}
