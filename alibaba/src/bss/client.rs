//! The BSS OpenAPI client: an [`openapi::Client`](crate::openapi::Client) for the billing
//! endpoint that sends RPC requests of API version 2017-12-14 and types their errors as
//! [`BssError`](super::BssError).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{API_VERSION, Endpoint, Result};
use crate::credentials::CredentialsProvider;
use crate::openapi::{self, ClientConfig, Params, Request};

/// How to reach BSS OpenAPI.
pub type BssConfig = ClientConfig<Endpoint>;

/// A BSS OpenAPI client; cheap to clone.
#[derive(Debug, Clone)]
pub struct BssClient {
    openapi: openapi::Client,
}

impl BssClient {
    pub fn new(config: BssConfig, credentials: Arc<dyn CredentialsProvider>) -> Result<Self> {
        Ok(Self {
            openapi: openapi::Client::new("bss", &config, credentials)?,
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
