//! Errors of BSS OpenAPI calls: a caller without billing read permission (a check that could not
//! be made), refused credentials, an answer that reports failure, or any other failure.

use crate::openapi::error::is_credentials_code;
use crate::openapi::{self, ApiError};

/// Errors of [`BssClient`](super::BssClient) calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BssError {
    /// `NotAuthorized`, `NoPermission`, `Forbidden*`.
    #[error("bss {}: access denied ({}): {}", .0.operation, .0.code, .0.message)]
    NoPermission(ApiError),
    /// The credentials or their signature were refused.
    #[error("bss {}: credentials rejected ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidCredentials(ApiError),
    /// HTTP 200 with `"Success": false`, as BSS reports some failures.
    #[error("bss {operation}: not successful ({code}): {message}")]
    Unsuccessful {
        operation: &'static str,
        code: String,
        message: String,
    },
    /// Every other failure; the cause is in the message, not a `source`, so it prints once.
    #[error("bss {0}")]
    Call(openapi::Error),
}

impl From<openapi::Error> for BssError {
    fn from(error: openapi::Error) -> Self {
        let openapi::Error::Api(api) = error else {
            return Self::Call(error);
        };
        let code = api.code.as_str();
        if code == "NotAuthorized"
            || code.starts_with("NoPermission")
            || code.starts_with("Forbidden")
        {
            Self::NoPermission(api)
        } else if is_credentials_code(code) {
            Self::InvalidCredentials(api)
        } else {
            Self::Call(openapi::Error::Api(api))
        }
    }
}
