//! The plugin's `key_id` scheme: `<CMK id>/<key version id>`, the Alibaba Cloud KMS key and the
//! primary key version that wrapped a seed.
//!
//! Why this shape: KMS v2 re-encrypts nothing until the key_id changes, so it must change when
//! the CMK rotates (a new primary version) and must never return to an earlier value (version
//! ids are UUIDs KMS never reuses). Naming the CMK as well lets Decrypt tell a seed of another
//! key (still decrypted: KMS decides, see `key_claim`) from a mislabelled one. Both parts are
//! public identifiers, never key material. `key_id_mode` has Alibaba's constant form.

use std::fmt;

/// The annotation every Encrypt response carries: the KMS key version id that wrapped the
/// seed. Its key must be a DNS subdomain (the apiserver checks it with
/// `IsFullyQualifiedDomainName`), so it cannot have the `prefix/name` form of object
/// annotations.
pub const KEY_VERSION_ANNOTATION: &str = "key-version.kms.secretkms.io";

/// Longest key_id the apiserver accepts (`KeyIDMaxSize`).
pub const MAX_KEY_ID_LEN: usize = 1024;

/// A parsed key_id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyVersionRef {
    /// The CMK's id (never an alias or ARN: those can be re-pointed).
    pub key_id: String,
    pub key_version_id: String,
}

/// Why a key_id cannot be one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key_id {key_id:?} is not of the form <kms key id>/<key version id>")]
pub struct MalformedKeyId {
    pub key_id: String,
}

impl KeyVersionRef {
    pub fn new(key_id: impl Into<String>, key_version_id: impl Into<String>) -> Self {
        Self {
            key_id: key_id.into(),
            key_version_id: key_version_id.into(),
        }
    }

    /// Parses `<key id>/<version id>`; both parts non-empty, no further `/`.
    pub fn parse(text: &str) -> Result<Self, MalformedKeyId> {
        let malformed = || MalformedKeyId {
            key_id: text.chars().take(MAX_KEY_ID_LEN).collect(),
        };
        if text.len() > MAX_KEY_ID_LEN {
            return Err(malformed());
        }
        let (key, version) = text.split_once('/').ok_or_else(malformed)?;
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !valid(key) || !valid(version) {
            return Err(malformed());
        }
        Ok(Self::new(key, version))
    }
}

impl fmt::Display for KeyVersionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.key_id, self.key_version_id)
    }
}

/// The apiserver's check on annotation keys (`validation.IsFullyQualifiedDomainName`): a DNS-1123
/// subdomain of at least two labels, an optional trailing dot.
pub fn is_fully_qualified_domain_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    name.len() <= 253 && name.split('.').count() >= 2 && name.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let r = KeyVersionRef::new(
            "key-hzz6c7b8f6c2xxxx",
            "2ab1a983-7072-4bbc-a582-584b5bd8ab12",
        );
        let text = r.to_string();
        assert_eq!(
            text,
            "key-hzz6c7b8f6c2xxxx/2ab1a983-7072-4bbc-a582-584b5bd8ab12"
        );
        assert_eq!(KeyVersionRef::parse(&text).unwrap(), r);
    }

    #[test]
    fn rejects_what_we_never_issue() {
        for bad in [
            "",
            "key",
            "/v",
            "k/",
            "k/v/w",
            "alias/x y",
            "acs:kms:cn-hangzhou:1:key/k",
        ] {
            let err = KeyVersionRef::parse(bad).unwrap_err();
            assert_eq!(err.key_id, bad, "{bad:?} must be refused and named");
        }
        assert!(KeyVersionRef::parse(&format!("k/{}", "v".repeat(1100))).is_err());
    }

    #[test]
    fn the_annotation_key_passes_the_apiservers_check() {
        assert!(is_fully_qualified_domain_name(KEY_VERSION_ANNOTATION));
        // The object-annotation form is refused by the apiserver, so it must fail here too.
        assert!(!is_fully_qualified_domain_name(
            "kms.secretkms.io/key-version"
        ));
        assert!(!is_fully_qualified_domain_name("localhost"));
        assert!(!is_fully_qualified_domain_name("Upper.example.io"));
        assert!(is_fully_qualified_domain_name("a.b."));
    }
}
