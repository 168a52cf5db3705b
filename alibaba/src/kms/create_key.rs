//! CreateKey: a new CMK, by default what secretkms expects (Enabled software Aliyun_AES_256).

use super::{DescribeKeyResponse, KmsClient, Result};
use crate::openapi::param;

/// CreateKey answers with the new key's metadata.
pub type CreateKeyResponse = DescribeKeyResponse;

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

impl KmsClient {
    pub async fn create_key(&self, request: &CreateKeyRequest) -> Result<CreateKeyResponse> {
        let mut params = vec![
            param("KeySpec", request.key_spec.clone()),
            param("KeyUsage", request.key_usage.clone()),
            param("ProtectionLevel", request.protection_level.clone()),
            param("Origin", request.origin.clone()),
        ];
        if !request.description.is_empty() {
            params.push(param("Description", request.description.clone()));
        }
        if let Some(interval) = &request.rotation_interval {
            params.push(param("EnableAutomaticRotation", "true"));
            params.push(param("RotationInterval", interval.clone()));
        }
        self.call("CreateKey", params).await
    }
}
