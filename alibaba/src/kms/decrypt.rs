//! Decrypt: a ciphertext blob in, the plaintext out; the blob names its own key and version.

use std::collections::BTreeMap;

use super::plaintext::{self, PlaintextResponse, SecretBytes};
use super::{KmsClient, Result};
use crate::openapi::param;

/// Decrypt's answer with the plaintext already base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub request_id: String,
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext: SecretBytes,
}

impl KmsClient {
    /// Decrypt; the blob identifies its key and version, so no key id is sent.
    pub async fn decrypt(
        &self,
        ciphertext_blob: &str,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<Decrypted> {
        let mut params = vec![param("CiphertextBlob", ciphertext_blob)];
        plaintext::context_param(&mut params, context);
        let r: PlaintextResponse = self.call("Decrypt", params).await?;
        Ok(Decrypted {
            plaintext: plaintext::decode("Decrypt", &r.plaintext)?,
            request_id: r.request_id,
            key_id: r.key_id,
            key_version_id: r.key_version_id,
        })
    }
}
