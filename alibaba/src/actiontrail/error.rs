//! Errors of ActionTrail calls, typed by what a caller does about them: a bad query (time range,
//! attribute, token), a caller without `actiontrail:LookupEvents`, refused credentials, throttling
//! that outlasted the retries, or any other failure.

use crate::openapi::error::is_credentials_code;
use crate::openapi::{self, ApiError};

/// Errors of [`ActionTrailClient`](super::ActionTrailClient) calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionTrailError {
    /// `InvalidParameter*`, `MissingParameter*`, an invalid `NextToken` or time range.
    #[error("actiontrail {}: invalid query ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidQuery(ApiError),
    /// `NoPermission` and `Forbidden*`.
    #[error("actiontrail {}: access denied ({}): {}", .0.operation, .0.code, .0.message)]
    NoPermission(ApiError),
    /// The credentials or their signature were refused.
    #[error("actiontrail {}: credentials rejected ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidCredentials(ApiError),
    /// A request that was never sent: more attributes than LookupEvents takes, say.
    #[error("actiontrail {operation}: {detail}")]
    Request {
        operation: &'static str,
        detail: String,
    },
    /// Every other failure; the cause is in the message, not a `source`, so it prints once.
    #[error("actiontrail {0}")]
    Call(openapi::Error),
}

impl From<openapi::Error> for ActionTrailError {
    fn from(error: openapi::Error) -> Self {
        let openapi::Error::Api(api) = error else {
            return Self::Call(error);
        };
        let code = api.code.as_str();
        if code.starts_with("InvalidParameter")
            || code.starts_with("MissingParameter")
            || code.starts_with("InvalidNextToken")
            || code.starts_with("InvalidTime")
        {
            Self::InvalidQuery(api)
        } else if code.starts_with("NoPermission") || code.starts_with("Forbidden") {
            Self::NoPermission(api)
        } else if is_credentials_code(code) {
            Self::InvalidCredentials(api)
        } else {
            Self::Call(openapi::Error::Api(api))
        }
    }
}
