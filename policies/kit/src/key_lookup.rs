//! Access to the host's `describe-key` import behind a trait, so policy logic can be tested
//! natively with canned answers instead of a running host.

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
/// the import is linked; native builds use canned answers (`testing`) or a closure.
#[cfg(target_arch = "wasm32")]
#[derive(Debug, Clone, Copy, Default)]
pub struct HostKeys;

#[cfg(target_arch = "wasm32")]
impl KeyLookup for HostKeys {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        crate::bindings::secretkms::policy::host::describe_key(key)
    }
}

/// Canned answers for native tests and the `cases/` runner: the model's one fake of the KMS
/// lookup (found by name, key id or ARN; anything else answers the KMS's not-found error), the
/// same one `kubectl secretkms policy test` runs the components with.
#[cfg(feature = "testing")]
impl KeyLookup for secretkms_model::CannedKeys {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        self.lookup(key).map(|facts| KeyFacts::from(&facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closures_are_lookups() {
        let lookup = |k: &str| Err::<KeyFacts, _>(format!("Throttling: {k}"));
        assert_eq!(lookup.describe_key("x").unwrap_err(), "Throttling: x");
    }

    #[cfg(feature = "testing")]
    #[test]
    fn canned_keys_answer_in_wit_types() {
        use secretkms_model::{CannedKeys, canned_keys, fixtures};
        let keys = CannedKeys::new().with("alias/k8s", fixtures::enabled_key("key-1"));
        let lookup: &dyn KeyLookup = &keys;
        assert_eq!(
            lookup.describe_key("key-1").unwrap().state,
            crate::KeyState::Enabled
        );
        assert_eq!(
            lookup.describe_key("alias/other").unwrap_err(),
            canned_keys::not_found("alias/other")
        );
    }
}
