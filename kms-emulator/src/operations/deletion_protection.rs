//! SetDeletionProtection: while on, ScheduleKeyDeletion is refused.

use serde_json::json;

use super::Answer;
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::Store;

pub(super) fn set_deletion_protection(store: &mut Store, params: &Params) -> Answer {
    let enable = params
        .opt_bool("EnableDeletionProtection")?
        .ok_or_else(|| ApiError::missing("EnableDeletionProtection"))?;
    let target = params
        .opt("ProtectedResourceArn")
        .or(params.opt("KeyId"))
        .ok_or_else(|| ApiError::missing("ProtectedResourceArn"))?
        .to_string();
    let description = params
        .opt("DeletionProtectionDescription")
        .map(str::to_string);
    let k = store.key_mut(&target)?;
    if k.key_state == "PendingDeletion" {
        return Err(ApiError::key_state(&k.key_state, "SetDeletionProtection"));
    }
    k.deletion_protection = enable;
    k.deletion_protection_description = if enable { description } else { None };
    Ok(json!({}))
}
