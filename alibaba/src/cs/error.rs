//! Errors of CS (ACK) calls, typed by what a caller does about them: wait out the cool-down
//! (HTTP 409), get the cluster's admin or O&M role (`ForbiddenUpdateKMSState`), pick another key
//! (`InvalidParameter*`), fix the cluster id, get the RAM permission, or fix the credentials.
//!
//! The 409 is typed by its status, not its code: the reference names the status of a second
//! `UpdateKMSEncryption` within about five minutes but not the code ACK sends with it.

use crate::openapi::error::is_credentials_code;
use crate::openapi::{self, ApiError};

/// The code ACK answers when the caller lacks the cluster's RBAC admin or O&M role.
pub const FORBIDDEN_UPDATE_KMS_STATE: &str = "ForbiddenUpdateKMSState";

/// Errors of [`CsClient`](super::CsClient) calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsError {
    /// HTTP 409: the cluster's encryption changed moments ago (ACK wants more than about five
    /// minutes between calls) or the cluster is busy with another change.
    #[error("cs {}: the cluster is cooling down from a recent change ({}): {}", .0.operation, .0.code, .0.message)]
    CoolDown(ApiError),
    /// `ForbiddenUpdateKMSState`: the caller holds neither the cluster's admin nor its O&M role.
    #[error("cs {}: the caller lacks the cluster's admin or o&m role ({}): {}", .0.operation, .0.code, .0.message)]
    ForbiddenUpdateKmsState(ApiError),
    /// HTTP 404 or `ErrorClusterNotFound`.
    #[error("cs {}: cluster not found ({}): {}", .0.operation, .0.code, .0.message)]
    ClusterNotFound(ApiError),
    /// `InvalidParameter*`, e.g. a key ACK does not accept for Secret encryption.
    #[error("cs {}: invalid parameter ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidParameter(ApiError),
    /// Any other `Forbidden*`, `NoPermission*` or `NotAuthorized`: the RAM policy does not
    /// allow the action.
    #[error("cs {}: access denied ({}): {}", .0.operation, .0.code, .0.message)]
    NoPermission(ApiError),
    /// The credentials or their signature were refused.
    #[error("cs {}: credentials rejected ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidCredentials(ApiError),
    /// Every other failure; the cause is in the message, not a `source`, so it prints once.
    #[error("cs {0}")]
    Call(openapi::Error),
}

impl CsError {
    /// The service's answer, for the variants that carry one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::CoolDown(api)
            | Self::ForbiddenUpdateKmsState(api)
            | Self::ClusterNotFound(api)
            | Self::InvalidParameter(api)
            | Self::NoPermission(api)
            | Self::InvalidCredentials(api) => Some(api),
            Self::Call(openapi::Error::Api(api)) => Some(api),
            Self::Call(_) => None,
        }
    }
}

impl From<openapi::Error> for CsError {
    fn from(error: openapi::Error) -> Self {
        let openapi::Error::Api(api) = error else {
            return Self::Call(error);
        };
        let code = api.code.as_str();
        if code == FORBIDDEN_UPDATE_KMS_STATE {
            Self::ForbiddenUpdateKmsState(api)
        } else if api.http_status == 409 {
            Self::CoolDown(api)
        } else if is_credentials_code(code) {
            Self::InvalidCredentials(api)
        } else if api.http_status == 404 || code.contains("ClusterNotFound") {
            Self::ClusterNotFound(api)
        } else if code.starts_with("InvalidParameter") {
            Self::InvalidParameter(api)
        } else if code == "NotAuthorized"
            || code.starts_with("NoPermission")
            || code.starts_with("Forbidden")
        {
            Self::NoPermission(api)
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
            operation: "UpdateKMSEncryption",
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
        })
    }

    #[test]
    fn codes_and_statuses_map_to_variants() {
        assert!(matches!(
            CsError::from(api("ForbiddenUpdateKMSState", 403)),
            CsError::ForbiddenUpdateKmsState(_)
        ));
        assert!(matches!(
            CsError::from(api("AnyCode", 409)),
            CsError::CoolDown(_)
        ));
        assert!(matches!(
            CsError::from(api("ErrorClusterNotFound", 404)),
            CsError::ClusterNotFound(_)
        ));
        assert!(matches!(
            CsError::from(api("InvalidParameter.KmsKeyId", 400)),
            CsError::InvalidParameter(_)
        ));
        assert!(matches!(
            CsError::from(api("Forbidden.RAM", 403)),
            CsError::NoPermission(_)
        ));
        assert!(matches!(
            CsError::from(api("SignatureDoesNotMatch", 400)),
            CsError::InvalidCredentials(_)
        ));
        let other = CsError::from(api("InternalError", 500));
        assert_eq!(
            other.to_string(),
            "cs UpdateKMSEncryption: InternalError (http 500): m"
        );
        assert_eq!(other.api().unwrap().code, "InternalError");
    }
}
