//! GenerateDataKey: fresh random bytes, both in plaintext and encrypted under the key.

use std::collections::BTreeMap;

use super::plaintext::{self, PlaintextResponse, SecretBytes};
use super::{KmsClient, Result};
use crate::openapi::param;

/// GenerateDataKey's answer with the data key already base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKey {
    pub request_id: String,
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
    pub plaintext: SecretBytes,
}

impl KmsClient {
    /// GenerateDataKey of `number_of_bytes` (1–1024) random bytes.
    pub async fn generate_data_key(
        &self,
        key: &str,
        number_of_bytes: u32,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<DataKey> {
        let mut params = vec![
            param("KeyId", key),
            param("NumberOfBytes", number_of_bytes.to_string()),
        ];
        plaintext::context_param(&mut params, context);
        let r: PlaintextResponse = self.call("GenerateDataKey", params).await?;
        Ok(DataKey {
            plaintext: plaintext::decode("GenerateDataKey", &r.plaintext)?,
            request_id: r.request_id,
            key_id: r.key_id,
            key_version_id: r.key_version_id,
            ciphertext_blob: r.ciphertext_blob,
        })
    }
}
