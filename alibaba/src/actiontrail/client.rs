//! The ActionTrail client: an [`openapi::Client`](crate::openapi::Client) for an ActionTrail
//! endpoint that sends RPC requests of API version 2020-07-06 through one [`RateLimiter`] at the
//! LookupEvents quota, and types their errors as [`ActionTrailError`](super::ActionTrailError).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{API_VERSION, Endpoint, LOOKUP_EVENTS_PER_SECOND, RateLimiter, Result};
use crate::credentials::CredentialsProvider;
use crate::openapi::{self, ClientConfig, Params, Request};

/// How to reach ActionTrail.
pub type ActionTrailConfig = ClientConfig<Endpoint>;

/// An ActionTrail client; clones share the rate limiter.
#[derive(Debug, Clone)]
pub struct ActionTrailClient {
    openapi: openapi::Client,
    limiter: RateLimiter,
}

impl ActionTrailClient {
    /// A client held to [`LOOKUP_EVENTS_PER_SECOND`].
    pub fn new(
        config: ActionTrailConfig,
        credentials: Arc<dyn CredentialsProvider>,
    ) -> Result<Self> {
        Ok(Self {
            openapi: openapi::Client::new("actiontrail", &config, credentials)?,
            limiter: RateLimiter::per_second(LOOKUP_EVENTS_PER_SECOND),
        })
    }

    /// The limiter every call waits on.
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Each call waits for its turn; the OpenAPI layer's retries of a throttled call back off
    /// on their own, longer than the spacing.
    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: Params,
    ) -> Result<T> {
        self.limiter.acquire().await;
        Ok(self
            .openapi
            .call(&Request::rpc(API_VERSION, action, params))
            .await?)
    }
}
