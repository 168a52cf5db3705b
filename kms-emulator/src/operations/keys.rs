//! CreateKey, DescribeKey and ListKeys.

use serde_json::json;

use super::{Answer, page, paged};
use crate::params::Params;
use crate::store::Store;

pub(super) fn create_key(store: &mut Store, params: &Params) -> Answer {
    let id = store.create_key_with_id(params, None)?;
    Ok(json!({ "KeyMetadata": store.metadata(&store.keys[&id]) }))
}

pub(super) fn describe_key(store: &Store, params: &Params) -> Answer {
    Ok(json!({ "KeyMetadata": store.metadata(store.key(params.req("KeyId")?)?) }))
}

pub(super) fn list_keys(store: &Store, params: &Params) -> Answer {
    let (number, size) = page(params)?;
    let all: Vec<_> = store
        .keys
        .values()
        .map(|k| json!({ "KeyId": k.key_id, "KeyArn": store.arn(&k.key_id) }))
        .collect();
    Ok(paged((number, size), "Keys", "Key", all))
}
