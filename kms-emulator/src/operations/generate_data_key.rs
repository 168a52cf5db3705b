//! GenerateDataKey: random bytes, answered in plaintext and sealed under the primary version.

use base64::Engine as _;
use serde_json::json;

use super::Answer;
use super::envelope::{context_aad, seal_with_primary, usable};
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::Store;

pub(super) fn generate_data_key(store: &Store, params: &Params) -> Answer {
    let key = usable(store, params.req("KeyId")?, "GenerateDataKey")?;
    let bytes = match (params.opt_u64("NumberOfBytes")?, params.opt("KeySpec")) {
        (Some(n), _) if (1..=1024).contains(&n) => n as usize,
        (Some(n), _) => {
            return Err(ApiError::invalid(
                "NumberOfBytes",
                format!("{n} is not 1 to 1024"),
            ));
        }
        (None, Some("AES_128")) => 16,
        (None, Some("AES_256") | None) => 32,
        (None, Some(other)) => {
            return Err(ApiError::invalid(
                "KeySpec",
                format!("{other:?} is not AES_256 or AES_128"),
            ));
        }
    };
    let data_key: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    let text = base64::engine::general_purpose::STANDARD.encode(data_key);
    let (version, blob) = seal_with_primary(key, text.as_bytes(), &context_aad(params)?)?;
    Ok(
        json!({ "CiphertextBlob": blob, "KeyId": key.key_id, "KeyVersionId": version, "Plaintext": text }),
    )
}
