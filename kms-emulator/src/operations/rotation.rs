//! UpdateRotationPolicy: automatic rotation of symmetric software keys.

use serde_json::json;

use super::Answer;
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::{Store, after, material_len, parse_interval};

pub(super) fn update_rotation_policy(store: &mut Store, params: &Params) -> Answer {
    let enable = params
        .opt_bool("EnableAutomaticRotation")?
        .ok_or_else(|| ApiError::missing("EnableAutomaticRotation"))?;
    let interval = params
        .opt("RotationInterval")
        .map(parse_interval)
        .transpose()?;
    let k = store.key_mut(params.req("KeyId")?)?;
    if k.key_state == "PendingDeletion" {
        return Err(ApiError::key_state(&k.key_state, "UpdateRotationPolicy"));
    }
    if k.protection_level == "HSM" || material_len(&k.key_spec).is_none() {
        return Err(ApiError::new(
            400,
            "UnsupportedOperation",
            "This key does not support automatic rotation.",
        ));
    }
    if enable {
        let seconds = interval.ok_or_else(|| ApiError::missing("RotationInterval"))?;
        k.automatic_rotation = "Enabled".into();
        k.rotation_interval = Some(seconds);
        let base = k
            .last_rotation_date
            .clone()
            .unwrap_or_else(|| k.creation_date.clone());
        k.next_rotation_date = after(&base, seconds);
    } else {
        k.automatic_rotation = "Disabled".into();
        k.next_rotation_date = None;
    }
    Ok(json!({}))
}
