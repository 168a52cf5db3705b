//! EnableKey, DisableKey, ScheduleKeyDeletion and CancelKeyDeletion: the key-state transitions
//! KMS allows (doc 44211).

use serde_json::json;

use super::Answer;
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::{Store, date, now};

/// EnableKey or DisableKey (`action`).
pub(super) fn set_enabled(store: &mut Store, params: &Params, action: &str) -> Answer {
    let k = store.key_mut(params.req("KeyId")?)?;
    if matches!(k.key_state.as_str(), "PendingDeletion" | "PendingImport") {
        return Err(ApiError::state_modified_failed(&k.key_state));
    }
    k.key_state = if action == "EnableKey" {
        "Enabled".into()
    } else {
        "Disabled".into()
    };
    Ok(json!({}))
}

pub(super) fn schedule_key_deletion(store: &mut Store, params: &Params) -> Answer {
    let days = params
        .opt_u64("PendingWindowInDays")?
        .ok_or_else(|| ApiError::missing("PendingWindowInDays"))?;
    if !(7..=366).contains(&days) {
        return Err(ApiError::invalid(
            "PendingWindowInDays",
            format!("{days} is not 7 to 366"),
        ));
    }
    let k = store.key_mut(params.req("KeyId")?)?;
    if k.key_state == "PendingDeletion" {
        return Err(ApiError::key_state(&k.key_state, "ScheduleKeyDeletion"));
    }
    if k.deletion_protection {
        return Err(ApiError::new(
            403,
            "Forbidden.ResourceProtected",
            "The key has deletion protection enabled; disable it with SetDeletionProtection first.",
        ));
    }
    k.key_state = "PendingDeletion".into();
    k.delete_date = Some(date(now() + time::Duration::days(days as i64)));
    Ok(json!({}))
}

pub(super) fn cancel_key_deletion(store: &mut Store, params: &Params) -> Answer {
    let k = store.key_mut(params.req("KeyId")?)?;
    if k.key_state != "PendingDeletion" {
        return Err(ApiError::key_state(&k.key_state, "CancelKeyDeletion"));
    }
    k.key_state = "Enabled".into();
    k.delete_date = None;
    Ok(json!({}))
}
