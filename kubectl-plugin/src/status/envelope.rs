//! What a stored Secret's bytes in etcd say about how it is encrypted: the transformer prefix
//! (`k8s:enc:<provider>:v<n>:<name>:`), and for KMS v2 the `keyID` inside the `EncryptedObject`
//! protobuf and the key version annotation its plugin added (Alibaba's plugin names the version
//! only there). Only the envelope is read; the ciphertext is never decrypted.

use secretkms_core::rotation_reach::{ACK_KEY_VERSION_ANNOTATION, KEY_VERSION_ANNOTATION};

use serde::Serialize;

/// How one stored value is protected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// `kms-v2`, `kms-v1`, `aescbc`, `aesgcm`, `secretbox`, `identity` (plaintext) or `unknown`.
    pub provider: String,
    /// The provider's name in the EncryptionConfiguration (or the aes/secretbox key name).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// KMS v2 only: the key_id the plugin reported when this object was written.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_id: String,
    /// KMS v2 only: the key version annotation of the seed (Alibaba's or ours), if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub key_version: String,
}

const KUBE_PROTOBUF_MAGIC: &[u8] = b"k8s\0";

/// Classifies a stored value.
pub fn classify(value: &[u8]) -> Envelope {
    let env = |provider: &str, name: &str, key_id: String| Envelope {
        provider: provider.into(),
        name: name.into(),
        key_id,
        key_version: String::new(),
    };
    if let Some(rest) = value.strip_prefix(b"k8s:enc:") {
        // <provider>:<version>:<name>:<payload>
        let mut parts = rest.splitn(4, |b| *b == b':');
        let (Some(provider), Some(version), Some(name), Some(payload)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return env("unknown", "", String::new());
        };
        let provider = String::from_utf8_lossy(provider);
        let version = String::from_utf8_lossy(version);
        let name = String::from_utf8_lossy(name);
        return match (provider.as_ref(), version.as_ref()) {
            ("kms", "v2") => match encrypted_object(payload) {
                Some(o) => Envelope {
                    key_version: o.key_version.unwrap_or_default(),
                    ..env("kms-v2", &name, o.key_id)
                },
                None => env("kms-v2", &name, "<undecodable>".into()),
            },
            ("kms", v) => env(&format!("kms-{v}"), &name, String::new()),
            (p, _) => env(p, &name, String::new()),
        };
    }
    if value.starts_with(KUBE_PROTOBUF_MAGIC) || value.starts_with(b"{") {
        return env("identity", "", String::new());
    }
    env("unknown", "", String::new())
}

/// What the envelope of a KMS v2 object names in plain text.
struct Named {
    key_id: String,
    key_version: Option<String>,
}

/// Field 2 (`string keyID`) of `EncryptedObject` (kms v2 api.proto).
pub fn encrypted_object_key_id(buf: &[u8]) -> Option<String> {
    encrypted_object(buf).map(|o| o.key_id)
}

/// Fields 2 (`keyID`) and 4 (`annotations`, a map: entries of key 1, value 2) of
/// `EncryptedObject`, read with a minimal protobuf walker that skips every other field.
fn encrypted_object(buf: &[u8]) -> Option<Named> {
    let mut key_id = None;
    let mut key_version = None;
    for (field, data) in length_delimited(buf)? {
        match field {
            2 => key_id = Some(String::from_utf8(data.to_vec()).ok()?),
            4 => {
                let (mut name, mut value) = (None, None);
                for (f, d) in length_delimited(data)? {
                    match f {
                        1 => name = Some(d),
                        2 => value = Some(d),
                        _ => {}
                    }
                }
                let is_version = |n: &[u8]| {
                    n == ACK_KEY_VERSION_ANNOTATION.as_bytes()
                        || n == KEY_VERSION_ANNOTATION.as_bytes()
                };
                if let (Some(n), Some(v)) = (name, value)
                    && is_version(n)
                {
                    key_version = String::from_utf8(v.to_vec()).ok();
                }
            }
            _ => {}
        }
    }
    Some(Named {
        key_id: key_id?,
        key_version,
    })
}

/// The length-delimited fields of a message, in order; None when it does not parse.
fn length_delimited(mut buf: &[u8]) -> Option<Vec<(u64, &[u8])>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let tag = read_varint(&mut buf)?;
        let (field, wire) = (tag >> 3, tag & 7);
        match wire {
            0 => {
                read_varint(&mut buf)?;
            }
            1 => buf = buf.get(8..)?,
            5 => buf = buf.get(4..)?,
            2 => {
                let len = usize::try_from(read_varint(&mut buf)?).ok()?;
                let data = buf.get(..len)?;
                buf = &buf[len..];
                out.push((field, data));
            }
            _ => return None,
        }
    }
    Some(out)
}

fn read_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(num: u64, wire: u64, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![((num << 3) | wire) as u8];
        if wire == 2 {
            out.push(payload.len() as u8);
        }
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn kms_v2_envelopes_name_their_key_id() {
        let mut object = Vec::new();
        object.extend(field(1, 2, &[0xAA; 40]));
        object.extend(field(2, 2, b"key-1:version-2"));
        object.extend(field(3, 2, b"wrapped-dek"));
        object.extend(field(5, 0, &[1]));
        let mut stored = b"k8s:enc:kms:v2:alibaba:".to_vec();
        stored.extend(&object);
        assert_eq!(
            classify(&stored),
            Envelope {
                provider: "kms-v2".into(),
                name: "alibaba".into(),
                key_id: "key-1:version-2".into(),
                key_version: String::new(),
            }
        );
    }

    #[test]
    fn the_key_version_annotation_is_read() {
        let mut entry = field(1, 2, ACK_KEY_VERSION_ANNOTATION.as_bytes());
        entry.extend(field(2, 2, b"v-old"));
        let mut other = field(1, 2, b"x-acs-request-id.ack.alibabacloud.com");
        other.extend(field(2, 2, b"REQ"));
        let mut object = field(2, 2, b"key-1");
        object.extend(field(4, 2, &other));
        object.extend(field(4, 2, &entry));
        let mut stored = b"k8s:enc:kms:v2:secretkms:".to_vec();
        stored.extend(&object);
        let e = classify(&stored);
        assert_eq!(
            (e.key_id.as_str(), e.key_version.as_str()),
            ("key-1", "v-old")
        );
    }

    #[test]
    fn other_providers_and_plaintext_are_told_apart() {
        assert_eq!(
            classify(b"k8s:enc:kms:v1:ack:\x00\x10...").provider,
            "kms-v1"
        );
        let aes = classify(b"k8s:enc:aescbc:v1:key1:0123456789abcdef");
        assert_eq!(
            (aes.provider.as_str(), aes.name.as_str()),
            ("aescbc", "key1")
        );
        assert_eq!(
            classify(b"k8s\0\n\x0c\n\x02v1\x12\x06Secret").provider,
            "identity"
        );
        assert_eq!(classify(b"garbage").provider, "unknown");
    }

    #[test]
    fn a_truncated_object_is_not_a_key_id() {
        assert_eq!(encrypted_object_key_id(&[0x12, 0x20, b'a']), None);
        assert_eq!(encrypted_object_key_id(&[]), None);
    }
}
