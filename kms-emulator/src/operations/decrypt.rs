//! Decrypt: the blob names its key version; any version of a usable key opens it.

use base64::Engine as _;
use serde_json::json;

use super::Answer;
use super::envelope::{check_usable, context_aad};
use crate::api_error::ApiError;
use crate::crypto;
use crate::params::Params;
use crate::store::Store;

pub(super) fn decrypt(store: &Store, params: &Params) -> Answer {
    let invalid = || {
        ApiError::new(
            400,
            "InvalidCiphertext",
            "The specified ciphertext blob is invalid.",
        )
    };
    let blob = crypto::Blob::parse(params.req("CiphertextBlob")?).ok_or_else(invalid)?;
    let key = store
        .keys
        .values()
        .find(|k| k.versions.iter().any(|v| v.id == blob.version_id))
        .ok_or_else(invalid)?;
    check_usable(key, "Decrypt")?;
    let version = key
        .versions
        .iter()
        .find(|v| v.id == blob.version_id)
        .expect("found above");
    let material = base64::engine::general_purpose::STANDARD
        .decode(&version.material)
        .map_err(|_| invalid())?;
    let plaintext = blob
        .open(&material, &context_aad(params)?)
        .ok_or_else(invalid)?;
    let plaintext = String::from_utf8(plaintext).map_err(|_| invalid())?;
    Ok(json!({ "KeyId": key.key_id, "KeyVersionId": version.id, "Plaintext": plaintext }))
}
