//! ListKeyVersions and DescribeKeyVersion.

use serde_json::json;

use super::{Answer, page};
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::Store;

pub(super) fn list_key_versions(store: &Store, params: &Params) -> Answer {
    let key = store.key(params.req("KeyId")?)?;
    let (number, size) = page(params)?;
    let items: Vec<_> = key
        .versions
        .iter()
        .skip((number - 1) * size)
        .take(size)
        .map(|v| json!({ "KeyId": key.key_id, "KeyVersionId": v.id, "CreationDate": v.creation_date }))
        .collect();
    Ok(json!({
        "KeyVersions": { "KeyVersion": items },
        "PageNumber": number, "PageSize": size, "TotalCount": key.versions.len(),
    }))
}

pub(super) fn describe_key_version(store: &Store, params: &Params) -> Answer {
    let key = store.key(params.req("KeyId")?)?;
    let wanted = params.req("KeyVersionId")?;
    let v = key
        .versions
        .iter()
        .find(|v| v.id == wanted)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "Forbidden.KeyVersionNotFound",
                format!("The specified key version is not found: {wanted}"),
            )
        })?;
    Ok(
        json!({ "KeyVersion": { "KeyId": key.key_id, "KeyVersionId": v.id, "CreationDate": v.creation_date } }),
    )
}
