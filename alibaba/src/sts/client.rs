//! The STS client: an [`openapi::Client`](crate::openapi::Client) for an STS endpoint that sends
//! RPC requests of API version 2015-04-01 and types their errors as [`StsError`](super::StsError).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{API_VERSION, Endpoint, Result};
use crate::credentials::CredentialsProvider;
use crate::openapi::{self, ClientConfig, Params, Request};

/// How to reach STS.
pub type StsConfig = ClientConfig<Endpoint>;

/// An STS client; cheap to clone.
#[derive(Debug, Clone)]
pub struct StsClient {
    openapi: openapi::Client,
}

impl StsClient {
    pub fn new(config: StsConfig, credentials: Arc<dyn CredentialsProvider>) -> Result<Self> {
        Ok(Self {
            openapi: openapi::Client::new("sts", &config, credentials)?,
        })
    }

    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: Params,
    ) -> Result<T> {
        Ok(self
            .openapi
            .call(&Request::rpc(API_VERSION, action, params))
            .await?)
    }
}
