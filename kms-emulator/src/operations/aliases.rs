//! CreateAlias, DeleteAlias, ListAliases and ListAliasesByKeyId.

use serde_json::json;

use super::{Answer, page, paged};
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::Store;

pub(super) fn create_alias(store: &mut Store, params: &Params) -> Answer {
    let alias = params.req("AliasName")?.to_string();
    if !alias.starts_with("alias/")
        || alias.starts_with("alias/acs")
        || alias.len() > 255
        || alias.len() <= 6
    {
        return Err(ApiError::invalid(
            "AliasName",
            format!(
                "{alias:?} must start with alias/, not alias/acs, and be at most 255 characters"
            ),
        ));
    }
    let key_id = store.resolve(params.req("KeyId")?)?;
    if store.aliases.contains_key(&alias) {
        return Err(ApiError::new(
            400,
            "AliasAlreadyExists",
            format!("The alias {alias} already exists."),
        ));
    }
    store.aliases.insert(alias, key_id);
    Ok(json!({}))
}

pub(super) fn delete_alias(store: &mut Store, params: &Params) -> Answer {
    let alias = params.req("AliasName")?;
    store.aliases.remove(alias).ok_or_else(|| {
        ApiError::new(
            404,
            "Forbidden.AliasNotFound",
            format!("The specified Alias is not found: {alias}"),
        )
    })?;
    Ok(json!({}))
}

/// Every alias, or only those of the key id `of_key` (ListAliasesByKeyId).
pub(super) fn list_aliases(store: &Store, params: &Params, of_key: Option<String>) -> Answer {
    let (number, size) = page(params)?;
    let all: Vec<_> = store
        .aliases
        .iter()
        .filter(|(_, k)| of_key.as_ref().is_none_or(|f| f == *k))
        .map(|(name, key)| {
            json!({ "AliasName": name, "AliasArn": format!("acs:kms:{}:{}:{}", store.region, store.account, name), "KeyId": key })
        })
        .collect();
    Ok(paged((number, size), "Aliases", "Alias", all))
}
