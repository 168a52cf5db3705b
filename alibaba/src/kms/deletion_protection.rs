//! SetDeletionProtection: whether a key can be scheduled for deletion at all.

use super::{Acknowledged, KmsClient, Result};
use crate::openapi::param;

impl KmsClient {
    /// SetDeletionProtection on the key's ARN.
    pub async fn set_deletion_protection(
        &self,
        key_arn: &str,
        enable: bool,
        description: Option<&str>,
    ) -> Result<Acknowledged> {
        let mut params = vec![
            param("ProtectedResourceArn", key_arn),
            param("EnableDeletionProtection", enable.to_string()),
        ];
        if let Some(d) = description {
            params.push(param("DeletionProtectionDescription", d));
        }
        self.call("SetDeletionProtection", params).await
    }
}
