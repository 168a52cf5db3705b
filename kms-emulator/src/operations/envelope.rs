//! What Encrypt, GenerateDataKey and Decrypt share: which keys may be used, the associated data
//! an encryption context becomes, and sealing under the primary version.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value;

use crate::api_error::ApiError;
use crate::crypto;
use crate::params::Params;
use crate::store::{Store, StoredKey, material_len};

/// The key named `key`, if `action` may use it.
pub(super) fn usable<'a>(
    store: &'a Store,
    key: &str,
    action: &str,
) -> Result<&'a StoredKey, ApiError> {
    let k = store.key(key)?;
    check_usable(k, action)?;
    Ok(k)
}

/// Canonical associated data for an optional `EncryptionContext` JSON object.
pub(super) fn context_aad(params: &Params) -> Result<Vec<u8>, ApiError> {
    let Some(text) = params.opt("EncryptionContext") else {
        return Ok(b"{}".to_vec());
    };
    let map: BTreeMap<String, Value> = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid("EncryptionContext", format!("not a json object: {e}")))?;
    let mut canonical = BTreeMap::new();
    for (k, v) in map {
        let v = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        canonical.insert(k, v);
    }
    Ok(serde_json::to_vec(&canonical).unwrap_or_default())
}

pub(super) fn check_usable(key: &StoredKey, action: &str) -> Result<(), ApiError> {
    if key.key_state != "Enabled" {
        return Err(ApiError::key_state(&key.key_state, action));
    }
    if key.key_usage != "ENCRYPT/DECRYPT" || material_len(&key.key_spec).is_none() {
        return Err(ApiError::new(
            400,
            "UnsupportedOperation",
            format!("{action} is not supported for key spec {}", key.key_spec),
        ));
    }
    Ok(())
}

pub(super) fn seal_with_primary(
    key: &StoredKey,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(String, String), ApiError> {
    let version = key
        .versions
        .iter()
        .find(|v| v.id == key.primary_key_version)
        .ok_or_else(|| {
            ApiError::new(
                500,
                "InternalFailure",
                "The primary key version is missing.",
            )
        })?;
    let material = base64::engine::general_purpose::STANDARD
        .decode(&version.material)
        .map_err(|_| ApiError::new(500, "InternalFailure", "The key material is corrupt."))?;
    let blob = crypto::seal(&version.id, &material, plaintext, aad)
        .map_err(|e| ApiError::new(500, "InternalFailure", e))?;
    Ok((version.id.clone(), blob))
}
