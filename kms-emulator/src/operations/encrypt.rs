//! Encrypt: seals up to 6 KB under the key's primary version.

use serde_json::json;

use super::Answer;
use super::envelope::{context_aad, seal_with_primary, usable};
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::Store;

pub(super) fn encrypt(store: &Store, params: &Params) -> Answer {
    let key = usable(store, params.req("KeyId")?, "Encrypt")?;
    let plaintext = params.req("Plaintext")?;
    if plaintext.len() > 6144 {
        return Err(ApiError::invalid("Plaintext", "must be at most 6 KB"));
    }
    let (version, blob) = seal_with_primary(key, plaintext.as_bytes(), &context_aad(params)?)?;
    Ok(json!({ "CiphertextBlob": blob, "KeyId": key.key_id, "KeyVersionId": version }))
}
