//! EnableKey, DisableKey, ScheduleKeyDeletion and CancelKeyDeletion: moving a key between its
//! states.

use super::{Acknowledged, KmsClient, Result};
use crate::openapi::param;

impl KmsClient {
    pub async fn enable_key(&self, key: &str) -> Result<Acknowledged> {
        self.call("EnableKey", vec![param("KeyId", key)]).await
    }

    pub async fn disable_key(&self, key: &str) -> Result<Acknowledged> {
        self.call("DisableKey", vec![param("KeyId", key)]).await
    }

    /// ScheduleKeyDeletion after `pending_window_in_days` (7–366).
    pub async fn schedule_key_deletion(
        &self,
        key: &str,
        pending_window_in_days: u32,
    ) -> Result<Acknowledged> {
        self.call(
            "ScheduleKeyDeletion",
            vec![
                param("KeyId", key),
                param("PendingWindowInDays", pending_window_in_days.to_string()),
            ],
        )
        .await
    }

    pub async fn cancel_key_deletion(&self, key: &str) -> Result<Acknowledged> {
        self.call("CancelKeyDeletion", vec![param("KeyId", key)])
            .await
    }
}
