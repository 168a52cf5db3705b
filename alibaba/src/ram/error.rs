//! Errors of RAM calls, typed by what a caller does about them: a missing role or user (for the
//! ACK checks, "not authorized" rather than a failure), a caller without `ram:` read permission
//! (a check that could not be made), refused credentials, or any other failure.

use crate::openapi::error::is_credentials_code;
use crate::openapi::{self, ApiError};

/// Errors of [`RamClient`](super::RamClient) calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RamError {
    /// `EntityNotExist.Role`.
    #[error("ram {}: role not found ({}): {}", .0.operation, .0.code, .0.message)]
    RoleNotFound(ApiError),
    /// `EntityNotExist.User`.
    #[error("ram {}: user not found ({}): {}", .0.operation, .0.code, .0.message)]
    UserNotFound(ApiError),
    /// `NoPermission` and `Forbidden*`: the caller may not read RAM.
    #[error("ram {}: access denied ({}): {}", .0.operation, .0.code, .0.message)]
    NoPermission(ApiError),
    /// The credentials or their signature were refused.
    #[error("ram {}: credentials rejected ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidCredentials(ApiError),
    /// Every other failure; the cause is in the message, not a `source`, so it prints once.
    #[error("ram {0}")]
    Call(openapi::Error),
}

impl From<openapi::Error> for RamError {
    fn from(error: openapi::Error) -> Self {
        let openapi::Error::Api(api) = error else {
            return Self::Call(error);
        };
        let code = api.code.as_str();
        if code == "EntityNotExist.Role" {
            Self::RoleNotFound(api)
        } else if code == "EntityNotExist.User" {
            Self::UserNotFound(api)
        } else if code.starts_with("NoPermission") || code.starts_with("Forbidden") {
            Self::NoPermission(api)
        } else if is_credentials_code(code) {
            Self::InvalidCredentials(api)
        } else {
            Self::Call(openapi::Error::Api(api))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> openapi::Error {
        openapi::Error::Api(ApiError {
            operation: "GetRole",
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
        })
    }

    #[test]
    fn codes_map_to_variants() {
        assert!(matches!(
            RamError::from(api("EntityNotExist.Role", 404)),
            RamError::RoleNotFound(_)
        ));
        assert!(matches!(
            RamError::from(api("EntityNotExist.User", 404)),
            RamError::UserNotFound(_)
        ));
        assert!(matches!(
            RamError::from(api("NoPermission", 403)),
            RamError::NoPermission(_)
        ));
        assert!(matches!(
            RamError::from(api("SignatureDoesNotMatch", 400)),
            RamError::InvalidCredentials(_)
        ));
        let other = RamError::from(api("InvalidParameter", 400));
        assert_eq!(
            other.to_string(),
            "ram GetRole: InvalidParameter (http 400): m"
        );
    }
}
