//! What a KMS v2 provider stores in etcd: `k8s:enc:kms:v2:<provider name>:` followed by the
//! protobuf `EncryptedObject` (`k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/v2`),
//! decoded with a hand-written prost message so tests can see the keyID every value names.

use std::collections::HashMap;

use prost::Message as _;

/// The upstream message, field numbers as in its `api.proto`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptedObject {
    /// HKDF info ‖ nonce ‖ AES-GCM ciphertext of the object.
    #[prost(bytes = "vec", tag = "1")]
    pub encrypted_data: Vec<u8>,
    /// The plugin's key_id when the seed was wrapped.
    #[prost(string, tag = "2")]
    pub key_id: String,
    /// The plugin's Encrypt ciphertext of the seed.
    #[prost(bytes = "vec", tag = "3")]
    pub encrypted_dek_source: Vec<u8>,
    #[prost(map = "string, bytes", tag = "4")]
    pub annotations: HashMap<String, Vec<u8>>,
    /// 0 = AES_GCM_KEY (before 1.28), 1 = HKDF_SHA256_XNONCE_AES_GCM_SEED.
    #[prost(int32, tag = "5")]
    pub encrypted_dek_source_type: i32,
}

/// `HKDF_SHA256_XNONCE_AES_GCM_SEED`, the only type written since 1.29.
pub const HKDF_SHA256_XNONCE_AES_GCM_SEED: i32 = 1;

/// Why a stored value is not a KMS v2 envelope of the expected provider.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("stored value does not start with {expected:?} (it starts with {found:?})")]
    Prefix { expected: String, found: String },
    #[error("EncryptedObject after {prefix:?} does not decode: {source}")]
    Decode {
        prefix: String,
        source: prost::DecodeError,
    },
}

impl EncryptedObject {
    /// Splits `stored` into the provider prefix and decodes the rest.
    pub fn from_stored(provider: &str, stored: &[u8]) -> Result<Self, EnvelopeError> {
        let prefix = format!("k8s:enc:kms:v2:{provider}:");
        let Some(rest) = stored.strip_prefix(prefix.as_bytes()) else {
            return Err(EnvelopeError::Prefix {
                found: String::from_utf8_lossy(&stored[..stored.len().min(prefix.len() + 8)])
                    .into_owned(),
                expected: prefix,
            });
        };
        Self::decode(rest).map_err(|source| EnvelopeError::Decode { prefix, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_an_envelope_written_with_upstream_field_numbers() {
        // keyID = 2 (string "k/v"), encryptedDEKSource = 3, type = 5 (varint 1), data = 1.
        let mut stored = b"k8s:enc:kms:v2:e2e:".to_vec();
        stored.extend([
            0x0a, 2, 0xaa, 0xbb, 0x12, 3, b'k', b'/', b'v', 0x1a, 1, 0x01, 0x28, 1,
        ]);
        let o = EncryptedObject::from_stored("e2e", &stored).unwrap();
        assert_eq!(o.key_id, "k/v");
        assert_eq!(o.encrypted_data, [0xaa, 0xbb]);
        assert_eq!(o.encrypted_dek_source, [0x01]);
        assert_eq!(o.encrypted_dek_source_type, HKDF_SHA256_XNONCE_AES_GCM_SEED);
    }

    #[test]
    fn another_provider_or_plain_protobuf_is_refused_by_name() {
        let err = EncryptedObject::from_stored("e2e", b"k8s:enc:kms:v2:other:xx").unwrap_err();
        assert!(err.to_string().contains("k8s:enc:kms:v2:e2e:"), "{err}");
        assert!(EncryptedObject::from_stored("e2e", b"k8s\0\x0a").is_err());
    }

    /// The committed corpus of the `etcd_envelope` fuzz target (fuzz/corpus/etcd_envelope/, which
    /// compiles this file), with its properties (fuzz/src/lib.rs): no panic, and what decodes
    /// re-encodes and decodes equal.
    #[test]
    fn every_fuzz_corpus_input_decodes_or_fails_cleanly() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/etcd_envelope");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(files.len() >= 3, "the committed corpus is missing");
        let round_trip = |o: &EncryptedObject| {
            let again = EncryptedObject::decode(o.encode_to_vec().as_slice()).unwrap();
            assert_eq!(&again, o);
        };
        let (mut ours, mut refused) = (0, 0);
        for path in &files {
            let data = std::fs::read(path).unwrap();
            match EncryptedObject::from_stored("secretkms", &data) {
                Ok(o) => {
                    round_trip(&o);
                    ours += 1;
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    refused += 1;
                }
            }
            if let Ok(o) = EncryptedObject::decode(data.as_slice()) {
                round_trip(&o);
            }
        }
        assert!(ours >= 1, "no corpus input is a secretkms envelope");
        assert!(refused >= 1, "every corpus input is a secretkms envelope");
    }
}
