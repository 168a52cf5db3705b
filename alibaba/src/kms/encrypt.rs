//! Encrypt: plaintext in, an opaque ciphertext blob out, under the key's primary version.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::{KmsClient, Result, plaintext};
use crate::openapi::param;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct EncryptResponse {
    pub request_id: String,
    /// Opaque base64 text; identifies the key and version itself.
    pub ciphertext_blob: String,
    pub key_id: String,
    /// The primary version that encrypted.
    pub key_version_id: String,
}

impl KmsClient {
    /// Encrypt with the key's primary version; the plaintext is sent base64-encoded.
    pub async fn encrypt(
        &self,
        key: &str,
        plaintext: &[u8],
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<EncryptResponse> {
        let mut params = vec![
            param("KeyId", key),
            param(
                "Plaintext",
                base64::engine::general_purpose::STANDARD.encode(plaintext),
            ),
        ];
        plaintext::context_param(&mut params, context);
        self.call("Encrypt", params).await
    }
}
