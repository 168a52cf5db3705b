//! The KMS client: an [`openapi::Client`](crate::openapi::Client) for a KMS endpoint that sends
//! RPC requests of API version 2016-01-20 and types their errors as [`KmsError`]. The operations
//! live in their own modules as further `impl KmsClient` blocks.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::{API_VERSION, Endpoint, Result};
use crate::credentials::{Credentials, CredentialsProvider};
use crate::openapi::{self, ClientConfig, Params, Request};

/// How to reach KMS.
pub type KmsConfig = ClientConfig<Endpoint>;

/// A KMS client; cheap to clone.
#[derive(Debug, Clone)]
pub struct KmsClient {
    openapi: openapi::Client,
}

/// Operations that answer only with a request id.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Acknowledged {
    pub request_id: String,
}

impl KmsClient {
    pub fn new(config: KmsConfig, credentials: Arc<dyn CredentialsProvider>) -> Result<Self> {
        Ok(Self {
            openapi: openapi::Client::new("kms", &config, credentials)?,
        })
    }

    /// The endpoint's base URL.
    pub fn endpoint(&self) -> &Url {
        self.openapi.endpoint()
    }

    /// Calls `action` with `params`, retrying per the policy, and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: Params,
    ) -> Result<T> {
        let request = Request::rpc(API_VERSION, action, params);
        Ok(self.openapi.call(&request).await?)
    }

    /// Builds the signed request for one attempt (fresh nonce and timestamp every time), for
    /// tests that send it themselves (replays, tampering).
    pub fn signed_request(
        &self,
        action: &'static str,
        params: &Params,
        creds: &Credentials,
        now: OffsetDateTime,
    ) -> Result<reqwest::RequestBuilder> {
        let request = Request::rpc(API_VERSION, action, params.clone());
        Ok(self.openapi.signed_request(&request, creds, now)?)
    }
}
