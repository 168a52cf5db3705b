//! The CS client: an [`openapi::Client`](crate::openapi::Client) for the regional ACK endpoint
//! that sends ROA requests of API version 2015-12-15 (always ACS3-HMAC-SHA256: the RPC HMAC-SHA1
//! signature does not sign ROA) and types their errors as [`CsError`](super::CsError).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use super::{API_VERSION, Endpoint, Result};
use crate::credentials::CredentialsProvider;
use crate::openapi::{self, ClientConfig, Request, SignatureMethod};

/// How to reach CS.
pub type CsConfig = ClientConfig<Endpoint>;

/// A CS (ACK) client; cheap to clone.
#[derive(Debug, Clone)]
pub struct CsClient {
    openapi: openapi::Client,
}

impl CsClient {
    /// A client for `config`; the signature is ACS3-HMAC-SHA256 whatever `config` names, since
    /// ROA requests have no other signature on the shared layer.
    pub fn new(mut config: CsConfig, credentials: Arc<dyn CredentialsProvider>) -> Result<Self> {
        config.signature = SignatureMethod::Acs3HmacSha256;
        Ok(Self {
            openapi: openapi::Client::new("cs", &config, credentials)?,
        })
    }

    /// The endpoint's base URL.
    pub fn endpoint(&self) -> &url::Url {
        self.openapi.endpoint()
    }

    pub(super) async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        method: &'static str,
        path: String,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        Ok(self
            .openapi
            .call(&Request::roa(API_VERSION, action, method, path, body))
            .await?)
    }
}

/// One path segment, percent-encoded as the official SDKs encode ids in ROA paths.
pub(super) fn segment(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape_their_place() {
        assert_eq!(segment("c-0123abc"), "c-0123abc");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
    }
}
