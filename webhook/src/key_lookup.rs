//! `describe-key` for the key-change policy, answered by Alibaba Cloud KMS with the client the
//! KMS poller uses. Wrapped in the runtime's cache, so repeated admissions of the same change do
//! not spend the account's DescribeKey quota.

use secretkms_core::kms_facts;
use secretkms_core::policy::KeyLookup;
use secretkms_model::KeyFacts;

use crate::sources::kms::SharedClient;

/// Looks keys up through the current KMS client.
#[derive(Debug)]
pub struct KmsKeyLookup {
    client: SharedClient,
    runtime: tokio::runtime::Handle,
}

impl KmsKeyLookup {
    /// Must be created inside the tokio runtime; lookups then run on the blocking threads that
    /// evaluate policies.
    pub fn new(client: SharedClient) -> Self {
        Self {
            client,
            runtime: tokio::runtime::Handle::current(),
        }
    }
}

impl KeyLookup for KmsKeyLookup {
    fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
        let Some(client) = self.client.load_full() else {
            return Err("KMS is not configured yet: no SecretEncryption with provider alibaba-kms has been seen".into());
        };
        self.runtime
            .block_on(kms_facts::describe(&client, key))
            .map_err(|e| e.to_string())
    }
}
