//! What Status's `healthz` says: `ok` while the plugin can wrap and unwrap seeds with its key,
//! otherwise why not. The apiserver reports anything but `ok` as an unhealthy KMS provider (and
//! the write guard then denies every Secret write), so one throttled or dropped KMS call must
//! not flip it: transient failures count only once nothing has succeeded for the grace period.
//! Definitive answers count at once: KMS describing the key as Disabled or PendingDeletion, or
//! refusing our key's Encrypt/Decrypt by its state, access or existence.

use std::time::{Duration, Instant};

use secretkms_alibaba::kms::KmsError;

use crate::key_watch::Observation;

/// One failed Encrypt or Decrypt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: Instant,
    /// The KMS error's message (operation, code, KMS's text; never payloads).
    pub message: String,
    /// KMS refused for a reason that lasts (key state, access, existence, wrong plaintext),
    /// not throttling, a timeout or a 5xx.
    pub definitive: bool,
}

impl Failure {
    pub fn from_kms(at: Instant, error: &KmsError) -> Self {
        let definitive = matches!(
            error,
            KmsError::KeyState(_)
                | KmsError::KeyNotFound(_)
                | KmsError::NoPermission(_)
                | KmsError::InvalidCredentials(_)
        );
        Self {
            at,
            message: error.to_string(),
            definitive,
        }
    }
}

/// The outcomes of one operation with the plugin's own key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub last_ok: Option<Instant>,
    /// The latest failure since `last_ok`; a success clears it.
    pub last_failure: Option<Failure>,
}

impl Outcomes {
    pub fn succeeded(&mut self, at: Instant) {
        self.last_ok = Some(at);
        self.last_failure = None;
    }

    pub fn failed(&mut self, failure: Failure) {
        self.last_failure = Some(failure);
    }

    /// Succeeded within `within` of `now`, with no failure since.
    pub fn recently_ok(&self, within: Duration, now: Instant) -> bool {
        self.last_failure.is_none()
            && self
                .last_ok
                .is_some_and(|at| now.saturating_duration_since(at) <= within)
    }
}

/// Evidence of crypto capability: real traffic and the periodic self-test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capability {
    pub encrypt: Outcomes,
    pub decrypt: Outcomes,
}

/// `ok`, or why the plugin cannot serve now. `name` names the key; `grace` is how long the last
/// good DescribeKey and the last successful Encrypt/Decrypt stay trusted while calls fail.
pub fn healthz(
    key: &Observation,
    capability: &Capability,
    name: &str,
    grace: Duration,
    now: Instant,
) -> String {
    // 1. What KMS last said about the key: a state it reports is definitive.
    let (Some(m), Some(described_at)) = (&key.metadata, key.observed_at) else {
        return match &key.last_error {
            Some(error) => format!("key {name} has not been described yet: {error}"),
            None => format!("key {name} has not been described yet"),
        };
    };
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
    if key.current().is_none() {
        return format!("key {name} reports no primary key version");
    }
    // 2. DescribeKey failing (throttled by another user of the account, say): the last good
    // answer stands for the grace period, then it is too old to vouch for the key.
    let age = now.saturating_duration_since(described_at).as_secs();
    if now.saturating_duration_since(described_at) > grace {
        return match &key.last_error {
            Some(error) => format!(
                "cannot describe key {name}: last known state Enabled is {age}s old, more than the {}s grace: {error}",
                grace.as_secs()
            ),
            None => format!("state of key {name} is stale: last described {age}s ago"),
        };
    }
    // 3. Can it really wrap and unwrap?
    for (operation, outcomes) in [
        ("Encrypt", &capability.encrypt),
        ("Decrypt", &capability.decrypt),
    ] {
        if let Some(failure) = outcomes.last_failure.as_ref().filter(|f| f.definitive) {
            return format!("{operation} with key {name} fails: {}", failure.message);
        }
        let last_error = outcomes
            .last_failure
            .as_ref()
            .map(|f| format!(": {}", f.message))
            .unwrap_or_default();
        match outcomes.last_ok {
            None => return format!("no successful {operation} with key {name} yet{last_error}"),
            Some(at) if now.saturating_duration_since(at) > grace => {
                return format!(
                    "no successful {operation} with key {name} for {}s{last_error}",
                    now.saturating_duration_since(at).as_secs()
                );
            }
            Some(_) => {}
        }
    }
    "ok".into()
}

#[cfg(test)]
mod tests {
    use secretkms_alibaba::kms::{ApiError, KeyMetadata};

    use super::*;

    const GRACE: Duration = Duration::from_secs(60);

    fn enabled() -> KeyMetadata {
        KeyMetadata {
            key_id: "key-1".into(),
            key_state: "Enabled".into(),
            key_usage: "ENCRYPT/DECRYPT".into(),
            primary_key_version: Some("v-1".into()),
            ..Default::default()
        }
    }

    fn described(m: KeyMetadata, at: Instant) -> Observation {
        Observation {
            key_id: Some(m.key_id.clone()),
            metadata: Some(m),
            observed_at: Some(at),
            attempted_at: Some(at),
            last_error: None,
        }
    }

    fn capable(at: Instant) -> Capability {
        let mut c = Capability::default();
        c.encrypt.succeeded(at);
        c.decrypt.succeeded(at);
        c
    }

    fn api(code: &str) -> ApiError {
        ApiError {
            operation: "Encrypt",
            http_status: 400,
            code: code.into(),
            message: "m".into(),
            request_id: None,
        }
    }

    #[test]
    fn an_enabled_key_that_encrypts_and_decrypts_is_ok() {
        let now = Instant::now();
        let h = healthz(
            &described(enabled(), now),
            &capable(now),
            "key-1",
            GRACE,
            now,
        );
        assert_eq!(h, "ok");
    }

    #[test]
    fn states_other_than_enabled_name_the_key_and_the_way_back() {
        let now = Instant::now();
        let check =
            |m: KeyMetadata| healthz(&described(m, now), &capable(now), "key-1", GRACE, now);
        assert_eq!(
            check(KeyMetadata {
                key_state: "Disabled".into(),
                ..enabled()
            }),
            "key key-1 is Disabled; EnableKey makes it usable again"
        );
        let h = check(KeyMetadata {
            key_state: "PendingDeletion".into(),
            delete_date: Some("2030-01-08T00:00:00Z".into()),
            ..enabled()
        });
        assert!(
            h.contains("PendingDeletion") && h.contains("2030-01-08T00:00:00Z"),
            "{h}"
        );
        let h = check(KeyMetadata {
            key_usage: "SIGN/VERIFY".into(),
            ..enabled()
        });
        assert!(h.contains("SIGN/VERIFY"), "{h}");
        let h = check(KeyMetadata {
            primary_key_version: None,
            ..enabled()
        });
        assert!(h.contains("no primary key version"), "{h}");
    }

    #[test]
    fn a_failed_describe_keeps_the_last_good_state_for_the_grace_period() {
        let then = Instant::now();
        let key = Observation {
            last_error: Some("kms DescribeKey: throttled (Throttling)".into()),
            ..described(enabled(), then)
        };
        let within = then + GRACE;
        assert_eq!(
            healthz(&key, &capable(within), "key-1", GRACE, within),
            "ok"
        );
        let after = then + GRACE + Duration::from_secs(1);
        let h = healthz(&key, &capable(after), "key-1", GRACE, after);
        assert_eq!(
            h,
            "cannot describe key key-1: last known state Enabled is 61s old, more than the 60s grace: kms DescribeKey: throttled (Throttling)"
        );
        // No attempts at all (the poller stopped) ages out the same way.
        let silent = described(enabled(), then);
        let h = healthz(&silent, &capable(after), "key-1", GRACE, after);
        assert_eq!(h, "state of key key-1 is stale: last described 61s ago");
    }

    #[test]
    fn never_described_is_never_ok() {
        let now = Instant::now();
        let h = healthz(
            &Observation::default(),
            &capable(now),
            "alias/k",
            GRACE,
            now,
        );
        assert_eq!(h, "key alias/k has not been described yet");
        let failed = Observation {
            last_error: Some("kms DescribeKey: request to 127.0.0.1:9 failed".into()),
            ..Observation::default()
        };
        let h = healthz(&failed, &capable(now), "alias/k", GRACE, now);
        assert!(h.ends_with("127.0.0.1:9 failed"), "{h}");
    }

    #[test]
    fn a_refusal_by_key_state_counts_at_once_and_throttling_only_after_the_grace() {
        let then = Instant::now();
        let key = described(enabled(), then);
        let mut refused = capable(then);
        refused.encrypt.failed(Failure::from_kms(
            then,
            &KmsError::KeyState(api("Rejected.Disabled")),
        ));
        let h = healthz(&key, &refused, "key-1", GRACE, then);
        assert!(
            h.starts_with("Encrypt with key key-1 fails: kms Encrypt: rejected by key state (Rejected.Disabled)"),
            "{h}"
        );

        let mut throttled = capable(then);
        let soon = then + Duration::from_secs(5);
        throttled.encrypt.failed(Failure::from_kms(
            soon,
            &KmsError::Throttled {
                api: api("Throttling"),
                attempts: 4,
            },
        ));
        let key = described(enabled(), soon);
        assert_eq!(healthz(&key, &throttled, "key-1", GRACE, soon), "ok");
        let late = then + GRACE + Duration::from_secs(2);
        let key = described(enabled(), late);
        let h = healthz(&key, &throttled, "key-1", GRACE, late);
        assert!(
            h.starts_with("no successful Encrypt with key key-1 for 62s: kms Encrypt: throttled"),
            "{h}"
        );
        // A success afterwards clears the failure (the self-test proves both directions).
        throttled.encrypt.succeeded(late);
        throttled.decrypt.succeeded(late);
        assert_eq!(healthz(&key, &throttled, "key-1", GRACE, late), "ok");
    }

    #[test]
    fn no_round_trip_yet_is_not_ok() {
        let now = Instant::now();
        let key = described(enabled(), now);
        let h = healthz(&key, &Capability::default(), "key-1", GRACE, now);
        assert_eq!(h, "no successful Encrypt with key key-1 yet");
        let mut half = Capability::default();
        half.encrypt.succeeded(now);
        let h = healthz(&key, &half, "key-1", GRACE, now);
        assert_eq!(h, "no successful Decrypt with key key-1 yet");
    }
}
