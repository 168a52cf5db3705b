//! DescribeKey: a key's metadata by id, alias or ARN.

use serde::{Deserialize, Serialize};

use super::{KeyMetadata, KmsClient, Result};
use crate::openapi::param;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeKeyResponse {
    pub request_id: String,
    pub key_metadata: KeyMetadata,
}

impl KmsClient {
    /// DescribeKey; `key` is a key id, `alias/<name>` or an ARN.
    pub async fn describe_key(&self, key: &str) -> Result<DescribeKeyResponse> {
        self.call("DescribeKey", vec![param("KeyId", key)]).await
    }
}
