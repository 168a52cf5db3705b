//! The latest observation from each source of facts, and how they become one
//! [`EncryptionState`] at evaluation time.
//!
//! Ages are computed when the state is assembled, not when facts arrive, so a source that stops
//! answering grows stale on its own: policies see its age rise and its last error, and never a
//! frozen "healthy".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use secretkms_model::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, PluginFacts, RewriteFacts, SourceStatus,
};

/// One source's latest result. `Default` is a source that was never asked, which is left out
/// of the state entirely.
#[derive(Debug, Clone)]
pub struct Observed<T> {
    pub value: Option<T>,
    pub last_success: Option<SystemTime>,
    pub last_error: Option<String>,
    /// Whether this source is configured at all.
    pub active: bool,
}

impl<T> Default for Observed<T> {
    fn default() -> Self {
        Self {
            value: None,
            last_success: None,
            last_error: None,
            active: false,
        }
    }
}

impl<T> Observed<T> {
    /// Records a successful observation; clears the last error.
    pub fn succeed(&mut self, value: T, at: SystemTime) {
        self.value = Some(value);
        self.last_success = Some(at);
        self.last_error = None;
        self.active = true;
    }

    /// Records a successful observation of "nothing there" (e.g. no SecretEncryption object).
    pub fn absent(&mut self, at: SystemTime) {
        self.value = None;
        self.last_success = Some(at);
        self.last_error = None;
        self.active = true;
    }

    /// Forgets what was observed, keeping the source configured: after the question changed
    /// (another key declared), the old answer is no answer, so the source reads as "not
    /// observed yet" until the new one arrives.
    pub fn forget(&mut self) {
        self.value = None;
        self.last_success = None;
        self.last_error = None;
        self.active = true;
    }

    /// Marks the source configured before it first answers, so the state names it as "not
    /// observed yet" (and the guard denies) instead of leaving it out, as if nobody relied on it.
    pub fn expect(&mut self) {
        self.active = true;
    }

    /// Records a failure. The last good value is kept, so policies can still name the key, but
    /// its age keeps growing until it is too old to trust.
    pub fn fail(&mut self, error: impl Into<String>) {
        self.last_error = Some(error.into());
        self.active = true;
    }

    fn status(&self, name: &str, now: SystemTime) -> Option<SourceStatus> {
        self.active.then(|| SourceStatus {
            name: name.to_string(),
            age_seconds: self.last_success.map(|t| age(t, now)),
            last_error: self.last_error.clone(),
        })
    }
}

/// A state file's contents and when it was read.
#[derive(Debug, Clone)]
pub struct FileState {
    pub state: EncryptionState,
    pub loaded_at: SystemTime,
}

/// Everything observed so far.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    pub declared: Observed<Declared>,
    pub key: Observed<KeyFacts>,
    pub apiserver: Observed<ApiserverFacts>,
    pub plugin: Observed<PluginFacts>,
    pub rewrite: Observed<RewriteFacts>,
    /// For demos and tests: the parts a state file sets override the live sources, and the ages
    /// it states grow with the time since it was read.
    pub file: Option<FileState>,
}

impl Observations {
    /// True once any source has answered successfully: until then nothing is known, and a
    /// webhook should not report ready.
    pub fn is_known(&self) -> bool {
        self.file.is_some()
            || self.declared.last_success.is_some()
            || self.key.last_success.is_some()
            || self.apiserver.last_success.is_some()
            || self.plugin.last_success.is_some()
            || self.rewrite.last_success.is_some()
    }

    /// The state as of `now`.
    pub fn state_at(&self, now: SystemTime) -> EncryptionState {
        let mut state = EncryptionState {
            declared: self.declared.value.clone(),
            key: self.key.value.clone(),
            apiserver: self.apiserver.value.clone(),
            plugin: self.plugin.value.clone(),
            rewrite: self.rewrite.value.clone(),
            sources: [
                self.declared.status("declared", now),
                self.key.status("kms", now),
                self.apiserver.status("apiserver", now),
                self.plugin.status("plugin", now),
                self.rewrite.status("rewrite", now),
            ]
            .into_iter()
            .flatten()
            .collect(),
            now: unix(now),
        };
        if let Some(file) = &self.file {
            let since_load = age(file.loaded_at, now);
            let f = &file.state;
            macro_rules! overlay {
                ($($part:ident),*) => {$(
                    if f.$part.is_some() {
                        state.$part = f.$part.clone();
                    }
                )*};
            }
            overlay!(declared, key, apiserver, plugin, rewrite);
            for src in &f.sources {
                state.sources.retain(|s| s.name != src.name);
                state.sources.push(SourceStatus {
                    name: src.name.clone(),
                    age_seconds: src.age_seconds.map(|a| a.saturating_add(since_load)),
                    last_error: src.last_error.clone(),
                });
            }
        }
        state
    }
}

fn age(at: SystemTime, now: SystemTime) -> u64 {
    now.duration_since(at).unwrap_or(Duration::ZERO).as_secs()
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretkms_model::KeyState;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
    }

    #[test]
    fn sources_never_asked_are_left_out() {
        let obs = Observations::default();
        assert!(!obs.is_known());
        assert!(obs.state_at(t(0)).sources.is_empty());
    }

    #[test]
    fn an_expected_source_reads_as_not_observed_yet() {
        let mut obs = Observations::default();
        obs.apiserver.expect();
        let state = obs.state_at(t(0));
        let apiserver = state
            .sources
            .iter()
            .find(|s| s.name == "apiserver")
            .unwrap();
        assert_eq!(apiserver.age_seconds, None);
        assert_eq!(apiserver.last_error, None);
    }

    #[test]
    fn a_failing_source_keeps_its_value_and_ages() {
        let mut obs = Observations::default();
        obs.key.succeed(
            KeyFacts {
                key_id: "k".into(),
                state: KeyState::Enabled,
                ..Default::default()
            },
            t(0),
        );
        obs.key.fail("Throttling: too many requests");
        let state = obs.state_at(t(400));
        assert_eq!(state.key.unwrap().key_id, "k");
        let kms = state.sources.iter().find(|s| s.name == "kms").unwrap();
        assert_eq!(kms.age_seconds, Some(400));
        assert_eq!(
            kms.last_error.as_deref(),
            Some("Throttling: too many requests")
        );
        assert_eq!(state.now, 1_800_000_400);
    }

    #[test]
    fn a_source_that_never_answered_has_no_age() {
        let mut obs = Observations::default();
        obs.apiserver.fail("connection refused");
        let state = obs.state_at(t(5));
        assert!(!obs.is_known());
        assert_eq!(state.sources[0].age_seconds, None);
    }

    #[test]
    fn a_state_file_overrides_parts_and_its_ages_grow() {
        let mut obs = Observations::default();
        obs.apiserver.succeed(
            ApiserverFacts {
                kms_configured: true,
                kms_healthy: true,
                detail: "ok".into(),
                ..Default::default()
            },
            t(0),
        );
        let file = EncryptionState {
            key: Some(KeyFacts {
                key_id: "from-file".into(),
                ..Default::default()
            }),
            sources: vec![SourceStatus {
                name: "kms".into(),
                age_seconds: Some(10),
                last_error: None,
            }],
            ..Default::default()
        };
        obs.file = Some(FileState {
            state: file,
            loaded_at: t(0),
        });
        let state = obs.state_at(t(30));
        assert_eq!(state.key.unwrap().key_id, "from-file");
        assert!(
            state.apiserver.unwrap().kms_healthy,
            "parts the file leaves out come from live sources"
        );
        let kms = state.sources.iter().find(|s| s.name == "kms").unwrap();
        assert_eq!(kms.age_seconds, Some(40));
        assert!(obs.is_known());
    }
}
