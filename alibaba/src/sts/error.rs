//! Errors of STS calls: the credentials STS refused, or any other failure of the call as the
//! OpenAPI layer reports it. None contains credentials.

use crate::openapi::error::is_credentials_code;
use crate::openapi::{self, ApiError};

/// Errors of [`StsClient`](super::StsClient) calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StsError {
    /// `InvalidAccessKeyId.*`, `InvalidSecurityToken.*`, `SignatureDoesNotMatch`, ...: the
    /// credentials or their signature were refused, so no identity can be told.
    #[error("sts {}: credentials rejected ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidCredentials(ApiError),
    /// Every other failure; the cause is in the message, not a `source`, so it prints once.
    #[error("sts {0}")]
    Call(openapi::Error),
}

impl From<openapi::Error> for StsError {
    fn from(error: openapi::Error) -> Self {
        match error {
            openapi::Error::Api(api) if is_credentials_code(&api.code) => {
                Self::InvalidCredentials(api)
            }
            other => Self::Call(other),
        }
    }
}
