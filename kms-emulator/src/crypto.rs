//! Real AES-GCM under each key version's material. A ciphertext blob is
//! `base64(version id (36 ASCII bytes) || nonce (12) || ciphertext+tag)`, like the documented
//! samples that start with the key-version UUID, so Decrypt finds key and version without a KeyId.
//! The encryption context (canonical sorted JSON) is the associated data.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};
use base64::Engine as _;

const VERSION_ID_LEN: usize = 36;
const NONCE_LEN: usize = 12;

/// Encrypts `plaintext` with `material` (16, 24 or 32 bytes).
pub fn seal(
    version_id: &str,
    material: &[u8],
    plaintext: &[u8],
    aad: &[u8],
) -> Result<String, String> {
    if version_id.len() != VERSION_ID_LEN {
        return Err(format!(
            "key version id {version_id:?} is not a 36-character uuid"
        ));
    }
    let nonce: [u8; NONCE_LEN] = rand::random();
    let payload = Payload {
        msg: plaintext,
        aad,
    };
    let sealed = match material.len() {
        16 => Aes128Gcm::new_from_slice(material)
            .map_err(|e| e.to_string())?
            .encrypt((&nonce).into(), payload),
        24 => AesGcm::<Aes192, U12>::new_from_slice(material)
            .map_err(|e| e.to_string())?
            .encrypt((&nonce).into(), payload),
        32 => Aes256Gcm::new_from_slice(material)
            .map_err(|e| e.to_string())?
            .encrypt((&nonce).into(), payload),
        n => return Err(format!("key material of {n} bytes is not an AES key")),
    }
    .map_err(|_| "aes-gcm encryption failed".to_string())?;
    let mut blob = Vec::with_capacity(VERSION_ID_LEN + NONCE_LEN + sealed.len());
    blob.extend_from_slice(version_id.as_bytes());
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(blob))
}

/// The parts of a blob, before the material is known.
#[derive(Debug)]
pub struct Blob {
    pub version_id: String,
    nonce: [u8; NONCE_LEN],
    sealed: Vec<u8>,
}

impl Blob {
    pub fn parse(text: &str) -> Option<Self> {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .ok()?;
        if raw.len() < VERSION_ID_LEN + NONCE_LEN + 16 {
            return None;
        }
        let version_id = std::str::from_utf8(&raw[..VERSION_ID_LEN])
            .ok()?
            .to_string();
        let nonce = raw[VERSION_ID_LEN..VERSION_ID_LEN + NONCE_LEN]
            .try_into()
            .ok()?;
        Some(Self {
            version_id,
            nonce,
            sealed: raw[VERSION_ID_LEN + NONCE_LEN..].to_vec(),
        })
    }

    /// Decrypts; `None` when the blob was altered or the context differs.
    pub fn open(&self, material: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        let payload = Payload {
            msg: &self.sealed,
            aad,
        };
        let nonce = (&self.nonce).into();
        match material.len() {
            16 => Aes128Gcm::new_from_slice(material)
                .ok()?
                .decrypt(nonce, payload)
                .ok(),
            24 => AesGcm::<Aes192, U12>::new_from_slice(material)
                .ok()?
                .decrypt(nonce, payload)
                .ok(),
            32 => Aes256Gcm::new_from_slice(material)
                .ok()?
                .decrypt(nonce, payload)
                .ok(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VERSION: &str = "86a9efd9-3d16-4894-bd4f-1fc43f3f2abf";

    #[test]
    fn round_trip_and_tamper_detection() {
        for len in [16, 24, 32] {
            let material = vec![7u8; len];
            let blob = seal(VERSION, &material, b"hello", b"{}").unwrap();
            let parsed = Blob::parse(&blob).unwrap();
            assert_eq!(parsed.version_id, VERSION);
            assert_eq!(parsed.open(&material, b"{}").unwrap(), b"hello");
            assert!(
                parsed.open(&material, br#"{"a":"b"}"#).is_none(),
                "context is bound"
            );
            let mut raw = base64::engine::general_purpose::STANDARD
                .decode(&blob)
                .unwrap();
            *raw.last_mut().unwrap() ^= 1;
            let tampered =
                Blob::parse(&base64::engine::general_purpose::STANDARD.encode(raw)).unwrap();
            assert!(tampered.open(&material, b"{}").is_none());
        }
    }
}
