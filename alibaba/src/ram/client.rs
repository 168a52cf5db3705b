//! The RAM client: an [`openapi::Client`](crate::openapi::Client) for the RAM endpoint that sends
//! RPC requests of API version 2015-05-01 and types their errors as [`RamError`](super::RamError).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{API_VERSION, Endpoint, Result};
use crate::credentials::CredentialsProvider;
use crate::openapi::{self, ClientConfig, Params, Request};

/// How to reach RAM.
pub type RamConfig = ClientConfig<Endpoint>;

/// A RAM client; cheap to clone.
#[derive(Debug, Clone)]
pub struct RamClient {
    openapi: openapi::Client,
}

impl RamClient {
    pub fn new(config: RamConfig, credentials: Arc<dyn CredentialsProvider>) -> Result<Self> {
        Ok(Self {
            openapi: openapi::Client::new("ram", &config, credentials)?,
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
