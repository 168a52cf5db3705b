//! UpdateKMSEncryption (`PUT /clusters/{ClusterId}/kms`): turns KMS encryption of Secrets on
//! with a key, or off. ACK answers without a body and moves the cluster to `updating`; a second
//! call within about five minutes is [`CsError::CoolDown`](super::CsError::CoolDown).

use serde::{Deserialize, Serialize};

use super::client::segment;
use super::{CsClient, CsError, Result};
use crate::openapi;

/// The request body, with the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub struct UpdateKmsEncryption {
    /// The key to encrypt Secrets with (`Aliyun_AES_256`, `ENCRYPT/DECRYPT`, not a service
    /// key); omitted when disabling.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kms_key_id: Option<String>,
    /// `true` turns KMS encryption off.
    #[serde(default)]
    pub disable_encryption: bool,
}

impl UpdateKmsEncryption {
    /// Turn encryption on with `key_id`.
    pub fn enable(key_id: impl Into<String>) -> Self {
        Self {
            kms_key_id: Some(key_id.into()),
            disable_encryption: false,
        }
    }

    /// Turn encryption off.
    pub fn disable() -> Self {
        Self {
            kms_key_id: None,
            disable_encryption: true,
        }
    }
}

impl CsClient {
    /// UpdateKMSEncryption(ClusterId, body).
    pub async fn update_kms_encryption(
        &self,
        cluster_id: &str,
        request: UpdateKmsEncryption,
    ) -> Result<()> {
        let body = serde_json::to_vec(&request).map_err(|e| {
            CsError::Call(openapi::Error::Config(format!(
                "cannot encode the UpdateKMSEncryption body: {e}"
            )))
        })?;
        let _: serde::de::IgnoredAny = self
            .call(
                "UpdateKMSEncryption",
                "PUT",
                format!("/clusters/{}/kms", segment(cluster_id)),
                Some(body),
            )
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_name_the_api_fields() {
        assert_eq!(
            serde_json::to_value(UpdateKmsEncryption::enable("key-1")).unwrap(),
            serde_json::json!({"kms_key_id": "key-1", "disable_encryption": false})
        );
        assert_eq!(
            serde_json::to_value(UpdateKmsEncryption::disable()).unwrap(),
            serde_json::json!({"disable_encryption": true})
        );
    }
}
