//! Canned `describe-key` answers, for policy test cases (`keys.json`), `kubectl secretkms policy
//! run --keys` and unit tests: the one fake of the KMS lookup, used by the policy kit natively and
//! by the policy runtime alike, so a case decides the same way in both.

use std::collections::BTreeMap;

use crate::KeyFacts;

/// Answers for `describe-key`, each stored under the name a policy asks for.
///
/// A key is found the way KMS finds it: by the name it was stored under (an id, alias or ARN),
/// or by the key id or ARN of stored facts, since a user may write any of them. Any other key
/// answers [`not_found`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CannedKeys {
    answers: BTreeMap<String, Result<KeyFacts, String>>,
}

/// The one answer for a key that is not there, in the KMS's own words (as the KMS emulator
/// answers too): its error code, then its message.
pub fn not_found(key: &str) -> String {
    format!("Forbidden.KeyNotFound: The specified Key is not found: {key}")
}

impl CannedKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `facts` for `name` (an id, alias or ARN), and for the facts' own id and ARN.
    pub fn with(mut self, name: impl Into<String>, facts: KeyFacts) -> Self {
        self.answers.insert(name.into(), Ok(facts));
        self
    }

    /// Answers the error `error` for exactly `name`, e.g. `Throttling: ...`.
    pub fn with_error(mut self, name: impl Into<String>, error: impl Into<String>) -> Self {
        self.answers.insert(name.into(), Err(error.into()));
        self
    }

    /// Parses `keys.json`: an object mapping a key name (id, alias or ARN) to its facts, in the
    /// state file's camelCase form (`{"alias/k8s": {"keyId": "...", "state": "Enabled"}}`).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let keys: BTreeMap<String, KeyFacts> = serde_json::from_str(json)?;
        Ok(keys.into_iter().collect())
    }

    /// The answer for `key`: stored under that name first, else the first stored facts (by
    /// name) whose key id or ARN it is.
    pub fn lookup(&self, key: &str) -> Result<KeyFacts, String> {
        if let Some(answer) = self.answers.get(key) {
            return answer.clone();
        }
        self.answers
            .values()
            .filter_map(|a| a.as_ref().ok())
            .find(|f| (!f.key_id.is_empty() && f.key_id == key) || f.arn.as_deref() == Some(key))
            .cloned()
            .ok_or_else(|| not_found(key))
    }
}

/// Answers each `(name, facts)` pair, as [`CannedKeys::with`] does.
impl FromIterator<(String, KeyFacts)> for CannedKeys {
    fn from_iter<I: IntoIterator<Item = (String, KeyFacts)>>(iter: I) -> Self {
        iter.into_iter().fold(Self::new(), |canned, (name, facts)| {
            canned.with(name, facts)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyState;

    const ARN: &str = "acs:kms:cn-hangzhou:1:key/key-1";

    #[test]
    fn keys_are_found_by_name_id_and_arn() {
        let keys = CannedKeys::from_json(&format!(
            r#"{{"alias/k8s": {{"keyId": "key-1", "arn": "{ARN}", "state": "Disabled"}}}}"#
        ))
        .unwrap();
        for name in ["alias/k8s", "key-1", ARN] {
            assert_eq!(
                keys.lookup(name).unwrap().state,
                KeyState::Disabled,
                "{name}"
            );
        }
    }

    #[test]
    fn other_keys_answer_the_kms_not_found_error() {
        let keys = CannedKeys::new().with("alias/k8s", KeyFacts::default());
        let err = keys.lookup("alias/other").unwrap_err();
        assert_eq!(err, not_found("alias/other"));
        assert!(err.starts_with("Forbidden.KeyNotFound: "), "{err}");
        assert!(err.ends_with("alias/other"), "{err}");
        // Empty key ids of stored facts match nothing.
        assert_eq!(keys.lookup("").unwrap_err(), not_found(""));
    }

    #[test]
    fn a_stored_name_wins_over_another_entry_s_id() {
        let facts = |id: &str| KeyFacts {
            key_id: id.into(),
            ..Default::default()
        };
        let keys = CannedKeys::new()
            .with("alias/a", facts("key-2"))
            .with("key-2", facts("key-2-itself"))
            .with_error("key-3", "Throttling: slow down");
        assert_eq!(keys.lookup("key-2").unwrap().key_id, "key-2-itself");
        assert_eq!(keys.lookup("key-3").unwrap_err(), "Throttling: slow down");
    }

    #[test]
    fn keys_json_must_map_names_to_facts() {
        assert!(CannedKeys::from_json(r#"["alias/k8s"]"#).is_err());
        assert!(CannedKeys::from_json(r#"{"alias/k8s": {"state": 3}}"#).is_err());
    }
}
