//! Counting objects from metadata-only listing pages, so no Secret data reaches the tool.

use kube::Api;
use kube::api::ListParams;

use crate::causes::folded;

/// How many objects `api` lists, paged by 500 with metadata only.
pub async fn count<K>(api: Api<K>) -> anyhow::Result<u64>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut n = 0;
    let mut token = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        lp.continue_token = token;
        let page = api.list_metadata(&lp).await.map_err(folded)?;
        n += page.items.len() as u64;
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(n);
        }
    }
}
