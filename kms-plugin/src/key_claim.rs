//! What a Decrypt request says about the key that wrapped its seed: the key_id (ours in either
//! `--key-id-mode`, or Alibaba's plugin's) and the key-version annotations. It is a label, not
//! a lock: KMS Decrypt finds the key and version from the ciphertext blob itself, so the plugin
//! decrypts whatever the account's KMS can and only checks that the label agrees with KMS's
//! answer. A seed under a re-pointed alias, a switched key-id mode or Alibaba's plugin must stay
//! readable; a label that disagrees is worth a clear warning, never lost Secrets.

use std::collections::HashMap;

use secretkms_alibaba::kms::KeyArn;

use crate::key_id::{KEY_VERSION_ANNOTATION, KeyVersionRef};
use crate::key_id_mode::ACK_KEY_VERSION_ANNOTATION;

/// The key and version a request names, where it names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyClaim {
    /// The CMK id, from the key_id (an alias names no fixed key, so it gives none).
    pub key: Option<String>,
    /// The key version id, from the key_id or an annotation.
    pub version: Option<String>,
    /// Parts of the label that contradict each other.
    pub conflicts: Vec<String>,
}

/// A CMK id as KMS spells them: `key-...` and similar, no `/`.
fn is_key_id(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl KeyClaim {
    /// From a KMS v2 Decrypt request's key_id and annotations.
    pub fn from_v2(key_id: &str, annotations: &HashMap<String, Vec<u8>>) -> Self {
        let mut claim = Self::default();
        if let Some(arn) = KeyArn::parse(key_id) {
            claim.key = Some(arn.key_id);
        } else if key_id.starts_with("alias/") {
            // Alibaba's plugin reports the key as configured, which may be an alias.
        } else if let Ok(r) = KeyVersionRef::parse(key_id) {
            claim.key = Some(r.key_id);
            claim.version = Some(r.key_version_id);
        } else if is_key_id(key_id) {
            claim.key = Some(key_id.to_string());
        } else {
            claim
                .conflicts
                .push(format!("key_id {key_id:?} names no kms key"));
        }
        for name in [KEY_VERSION_ANNOTATION, ACK_KEY_VERSION_ANNOTATION] {
            let Some(value) = annotations.get(name) else {
                continue;
            };
            let value = String::from_utf8_lossy(value).into_owned();
            match &claim.version {
                Some(version) if *version != value => claim.conflicts.push(format!(
                    "annotation {name}={value:?} contradicts key version {version}"
                )),
                Some(_) => {}
                None => claim.version = Some(value),
            }
        }
        claim
    }

    /// How the label disagrees with what KMS says wrapped the blob, if it does.
    pub fn disagreement(&self, actual: &KeyVersionRef) -> Option<String> {
        let mut problems = self.conflicts.clone();
        if let Some(key) = self.key.as_ref().filter(|k| **k != actual.key_id) {
            problems.push(format!("it names key {key}"));
        }
        if let Some(version) = self
            .version
            .as_ref()
            .filter(|v| **v != actual.key_version_id)
        {
            problems.push(format!("it names key version {version}"));
        }
        (!problems.is_empty()).then(|| problems.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_id_mode::ACK_REGION_ANNOTATION;

    fn actual() -> KeyVersionRef {
        KeyVersionRef::new("key-1", "v-1")
    }

    fn annotation(name: &str, value: &str) -> HashMap<String, Vec<u8>> {
        HashMap::from([(name.to_string(), value.as_bytes().to_vec())])
    }

    #[test]
    fn our_per_version_key_id_and_annotation_agree() {
        let claim = KeyClaim::from_v2("key-1/v-1", &annotation(KEY_VERSION_ANNOTATION, "v-1"));
        assert_eq!(claim.key.as_deref(), Some("key-1"));
        assert_eq!(claim.disagreement(&actual()), None);
    }

    #[test]
    fn the_constant_form_takes_the_version_from_alibabas_annotation() {
        let mut a = annotation(ACK_KEY_VERSION_ANNOTATION, "v-1");
        a.insert(ACK_REGION_ANNOTATION.into(), b"cn-hangzhou".to_vec());
        let claim = KeyClaim::from_v2("key-1", &a);
        assert_eq!(claim.version.as_deref(), Some("v-1"));
        assert_eq!(claim.disagreement(&actual()), None);
        let arn = KeyClaim::from_v2("acs:kms:cn-hangzhou:1:key/key-1", &a);
        assert_eq!(arn.disagreement(&actual()), None);
        // An alias (as Alibaba's plugin may report it) names no fixed key.
        let alias = KeyClaim::from_v2("alias/k8s", &a);
        assert_eq!(alias.key, None);
        assert_eq!(alias.disagreement(&actual()), None);
    }

    #[test]
    fn a_label_of_another_key_or_version_is_described() {
        let claim = KeyClaim::from_v2("key-2/v-9", &HashMap::new());
        assert_eq!(
            claim.disagreement(&actual()).unwrap(),
            "it names key key-2; it names key version v-9"
        );
        let contradicting =
            KeyClaim::from_v2("key-1/v-1", &annotation(KEY_VERSION_ANNOTATION, "v-2"));
        let d = contradicting.disagreement(&actual()).unwrap();
        assert!(
            d.contains("v-2") && d.contains(KEY_VERSION_ANNOTATION),
            "{d}"
        );
        let nonsense = KeyClaim::from_v2("not a key id!", &HashMap::new());
        assert!(
            nonsense
                .disagreement(&actual())
                .unwrap()
                .contains("names no kms key")
        );
    }
}
