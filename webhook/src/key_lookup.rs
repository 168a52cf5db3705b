//! `describe-key` for the key-change policy, answered by Alibaba Cloud KMS with the client the
//! KMS poller uses. Wrapped in the runtime's cache, so repeated admissions of the same change do
//! not spend the account's DescribeKey quota.

use std::time::Duration;

use secretkms_core::kms_facts;
use secretkms_core::policy::{KeyLookup, LookupFuture};
use secretkms_model::KeyFacts;

use crate::sources::kms::SharedClient;

/// Looks keys up through the current KMS client.
#[derive(Debug)]
pub struct KmsKeyLookup {
    client: SharedClient,
    runtime: tokio::runtime::Handle,
}

impl KmsKeyLookup {
    /// Must be created inside the tokio runtime: the synchronous lookups (of large reviews,
    /// evaluated on blocking threads) block on it.
    pub fn new(client: SharedClient) -> Self {
        Self {
            client,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl KeyLookup for KmsKeyLookup {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        let client = self.client()?;
        self.runtime
            .block_on(kms_facts::describe(&client, key))
            .map_err(|e| e.to_string())
    }

    /// Drops the KMS call (and its retries) when `within` is up, so a hanging or throttling
    /// KMS costs a review at most that long.
    fn describe_key_within(&self, key: &str, within: Duration) -> Result<KeyFacts, String> {
        self.runtime.block_on(self.describe_key_async(key, within))
    }

    /// The evaluations of typical reviews run on the runtime's workers: the KMS call is awaited
    /// there.
    fn describe_key_async<'a>(&'a self, key: &'a str, within: Duration) -> LookupFuture<'a> {
        Box::pin(async move {
            let client = self.client()?;
            match tokio::time::timeout(within, kms_facts::describe(&client, key)).await {
                Ok(answer) => answer.map_err(|e| e.to_string()),
                Err(_) => Err(format!(
                    "Timeout: KMS did not answer DescribeKey within {} ms",
                    within.as_millis()
                )),
            }
        })
    }
}

impl KmsKeyLookup {
    fn client(&self) -> Result<std::sync::Arc<secretkms_alibaba::kms::KmsClient>, String> {
        self.client.load_full().ok_or_else(|| {
            "KMS is not configured yet: no SecretEncryption with provider alibaba-kms has been seen"
                .into()
        })
    }
}
