//! UpdateRotationPolicy: automatic rotation on or off, and its interval.

use super::{Acknowledged, KmsClient, Result};
use crate::openapi::param;

impl KmsClient {
    /// UpdateRotationPolicy; `interval` (e.g. `"365d"` or `"31536000s"`) is required to enable.
    pub async fn update_rotation_policy(
        &self,
        key: &str,
        enable: bool,
        interval: Option<&str>,
    ) -> Result<Acknowledged> {
        let mut params = vec![
            param("KeyId", key),
            param("EnableAutomaticRotation", enable.to_string()),
        ];
        if let Some(interval) = interval {
            params.push(param("RotationInterval", interval));
        }
        self.call("UpdateRotationPolicy", params).await
    }
}
