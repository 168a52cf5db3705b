//! Plaintext as Decrypt and GenerateDataKey return it: base64 on the wire, [`SecretBytes`] to
//! callers, never printed.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Deserialize;

use super::{KmsError, Result};
use crate::openapi::{Params, param};

/// Bytes that must never be printed: decrypted plaintext and data keys.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}

/// Wire form of Decrypt and GenerateDataKey (`Plaintext` is base64).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(super) struct PlaintextResponse {
    pub request_id: String,
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
    pub plaintext: String,
}

/// Decodes the base64 `Plaintext` of `action`'s answer.
pub(super) fn decode(action: &'static str, text: &str) -> Result<SecretBytes> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(SecretBytes)
        .map_err(|e| KmsError::MalformedResponse {
            operation: action,
            http_status: 200,
            detail: format!("Plaintext is not base64: {e}"),
        })
}

/// Adds `EncryptionContext` (JSON) when a non-empty context is given.
pub(super) fn context_param(params: &mut Params, context: Option<&BTreeMap<String, String>>) {
    if let Some(ctx) = context.filter(|c| !c.is_empty()) {
        params.push(param(
            "EncryptionContext",
            serde_json::to_string(ctx).unwrap_or_default(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_bytes_never_print() {
        assert_eq!(
            format!("{:?}", SecretBytes(b"top secret".to_vec())),
            "<10 secret bytes>"
        );
    }

    #[test]
    fn only_a_non_empty_context_is_sent() {
        let mut params = Params::new();
        context_param(&mut params, Some(&BTreeMap::new()));
        assert!(params.is_empty());
        let ctx = BTreeMap::from([("b".to_string(), "2".to_string())]);
        context_param(&mut params, Some(&ctx));
        assert_eq!(params, [param("EncryptionContext", r#"{"b":"2"}"#)]);
        assert!(decode("Decrypt", "not base64!").is_err());
    }
}
