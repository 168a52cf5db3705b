//! Access to the host's `describe-key` import behind a trait, so policy logic can be tested
//! natively with canned answers instead of a running host.

use std::collections::BTreeMap;

use crate::KeyFacts;

/// Looks up a KMS key's live metadata by id, alias (`alias/...`) or ARN.
///
/// Err carries the KMS error code and message, e.g. `Forbidden.KeyNotFound: ...`.
pub trait KeyLookup {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String>;
}

impl<F> KeyLookup for F
where
    F: Fn(&str) -> Result<KeyFacts, String>,
{
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        self(key)
    }
}

/// The real lookup: the host's `describe-key` import. Only exists in the WebAssembly build, where
/// the import is linked; native builds use [`FakeKeys`] or a closure.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Clone, Copy, Default)]
pub struct HostKeys;

#[cfg(target_arch = "wasm32")]
impl KeyLookup for HostKeys {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        crate::bindings::secretkms::policy::host::describe_key(key)
    }
}

/// Canned `describe-key` answers for tests, keyed by the exact string the policy asks for.
/// A key that is not in the map answers the KMS's own not-found error.
#[derive(Debug, Clone, Default)]
pub struct FakeKeys {
    answers: BTreeMap<String, Result<KeyFacts, String>>,
}

impl FakeKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `facts` for `key` (an id, alias or ARN).
    pub fn with(mut self, key: impl Into<String>, facts: KeyFacts) -> Self {
        self.answers.insert(key.into(), Ok(facts));
        self
    }

    /// Answers the error `error` for `key`, e.g. `Throttling: ...`.
    pub fn with_error(mut self, key: impl Into<String>, error: impl Into<String>) -> Self {
        self.answers.insert(key.into(), Err(error.into()));
        self
    }
}

impl KeyLookup for FakeKeys {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        self.answers.get(key).cloned().unwrap_or_else(|| {
            Err(format!(
                "Forbidden.KeyNotFound: the specified key {key} is not found"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyState;

    fn facts(id: &str) -> KeyFacts {
        KeyFacts {
            key_id: id.into(),
            arn: None,
            region: None,
            state: KeyState::Enabled,
            state_name: "Enabled".into(),
            spec: "Aliyun_AES_256".into(),
            usage: "ENCRYPT/DECRYPT".into(),
            primary_key_version: None,
            delete_date: None,
            deletion_protection: None,
            automatic_rotation: None,
            rotation_interval: None,
            last_rotation_date: None,
            next_rotation_date: None,
        }
    }

    #[test]
    fn fake_keys_answer_not_found_for_unknown_keys() {
        let keys = FakeKeys::new().with("alias/k8s", facts("key-1"));
        assert_eq!(keys.describe_key("alias/k8s").unwrap().key_id, "key-1");
        let err = keys.describe_key("alias/other").unwrap_err();
        assert!(err.starts_with("Forbidden.KeyNotFound"), "{err}");
        assert!(err.contains("alias/other"), "{err}");
    }

    #[test]
    fn closures_are_lookups() {
        let lookup = |k: &str| Err::<KeyFacts, _>(format!("Throttling: {k}"));
        assert_eq!(lookup.describe_key("x").unwrap_err(), "Throttling: x");
    }
}
