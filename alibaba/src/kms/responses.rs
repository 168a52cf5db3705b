//! Response bodies of the KMS operations other than DescribeKey, with the real field names.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::KeyMetadata;

/// Bytes that must never be printed: decrypted plaintext and data keys.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} secret bytes>", self.0.len())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeKeyResponse {
    pub request_id: String,
    pub key_metadata: KeyMetadata,
}

/// CreateKey answers with the new key's metadata.
pub type CreateKeyResponse = DescribeKeyResponse;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyVersion {
    pub key_id: String,
    pub key_version_id: String,
    pub creation_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyVersions {
    pub key_version: Vec<KeyVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListKeyVersionsResponse {
    pub request_id: String,
    pub key_versions: KeyVersions,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeKeyVersionResponse {
    pub request_id: String,
    pub key_version: KeyVersion,
}

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

/// Decrypt's answer with the plaintext already base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    pub request_id: String,
    pub key_id: String,
    pub key_version_id: String,
    pub plaintext: SecretBytes,
}

/// GenerateDataKey's answer with the data key already base64-decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataKey {
    pub request_id: String,
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
    pub plaintext: SecretBytes,
}

/// Wire form of Decrypt and GenerateDataKey (`Plaintext` is base64).
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct PlaintextResponse {
    pub request_id: String,
    pub key_id: String,
    pub key_version_id: String,
    pub ciphertext_blob: String,
    pub plaintext: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Alias {
    pub alias_name: String,
    pub alias_arn: String,
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Aliases {
    pub alias: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListAliasesResponse {
    pub request_id: String,
    pub aliases: Aliases,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: u32,
}

/// Operations that answer only with a request id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Acknowledged {
    pub request_id: String,
}

/// Parameters of CreateKey; `Default` is an Enabled software Aliyun_AES_256 ENCRYPT/DECRYPT key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateKeyRequest {
    pub key_spec: String,
    pub key_usage: String,
    pub protection_level: String,
    pub origin: String,
    pub description: String,
    /// `Some("31536000s")` enables automatic rotation at that interval.
    pub rotation_interval: Option<String>,
}

impl Default for CreateKeyRequest {
    fn default() -> Self {
        Self {
            key_spec: "Aliyun_AES_256".into(),
            key_usage: "ENCRYPT/DECRYPT".into(),
            protection_level: "SOFTWARE".into(),
            origin: "Aliyun_KMS".into(),
            description: String::new(),
            rotation_interval: None,
        }
    }
}
