//! Errors of KMS calls, typed by what a caller does about them. Every message names the
//! operation and the KMS error code; none contains credentials or payloads.

use crate::credentials::CredentialsError;
use crate::openapi::{self, ApiError, error::is_throttling};

/// Errors of [`KmsClient`](super::KmsClient) calls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KmsError {
    /// `Forbidden.KeyNotFound` / `Forbidden.AliasNotFound`.
    #[error("kms {}: key not found ({}): {}", .0.operation, .0.code, .0.message)]
    KeyNotFound(ApiError),
    /// `Forbidden.NoPermission` and other `Forbidden.*` access denials.
    #[error("kms {}: access denied ({}): {}", .0.operation, .0.code, .0.message)]
    NoPermission(ApiError),
    /// `Rejected.<State>` and `Rejected.StateModifiedFailed`: the key's state forbids the call.
    #[error("kms {}: rejected by key state ({}): {}", .0.operation, .0.code, .0.message)]
    KeyState(ApiError),
    /// `IllegalTimestamp`: this machine's clock is too far from KMS's.
    #[error("kms {}: request timestamp rejected ({}), check this machine's clock: {}", .0.operation, .0.code, .0.message)]
    IllegalTimestamp(ApiError),
    /// `IncompleteSignature`, `SignatureDoesNotMatch`, `SignatureNonceUsed`, ...
    #[error("kms {}: signature rejected ({}): {}", .0.operation, .0.code, .0.message)]
    Signature(ApiError),
    /// `InvalidAccessKeyId.*`, `InvalidSecurityToken.*`: wrong, disabled or expired credentials.
    #[error("kms {}: credentials rejected ({}): {}", .0.operation, .0.code, .0.message)]
    InvalidCredentials(ApiError),
    /// `Throttling*` / HTTP 429, still throttled after every retry.
    #[error("kms {}: throttled ({}) after {attempts} attempts: {}", .api.operation, .api.code, .api.message)]
    Throttled { api: ApiError, attempts: u32 },
    /// Any other error code (`InvalidParameter`, `InternalFailure`, ...).
    #[error("kms {}: {} (http {}): {}", .0.operation, .0.code, .0.http_status, .0.message)]
    Api(ApiError),
    /// The request never got a complete answer (connect, timeout, reset, cut body).
    #[error("kms {operation}: request to {host} failed after {attempts} attempts: {detail}")]
    Transport {
        operation: &'static str,
        host: String,
        attempts: u32,
        detail: String,
    },
    /// KMS answered, but not with the JSON this operation returns.
    #[error("kms {operation}: malformed response (http {http_status}): {detail}")]
    MalformedResponse {
        operation: &'static str,
        http_status: u16,
        detail: String,
    },
    /// The chain's error is in the message and deliberately not a `source` (a field named
    /// `source` would be one), so `{:#}` prints it once.
    #[error("kms {operation}: {error}")]
    Credentials {
        operation: &'static str,
        error: CredentialsError,
    },
    #[error("kms client configuration: {0}")]
    Config(String),
}

impl KmsError {
    /// Maps an error answer to its typed variant.
    pub fn from_api(api: ApiError) -> Self {
        let code = api.code.as_str();
        if code == "Forbidden.KeyNotFound" || code == "Forbidden.AliasNotFound" {
            Self::KeyNotFound(api)
        } else if code.starts_with("Forbidden.") {
            Self::NoPermission(api)
        } else if is_throttling(code, api.http_status) {
            Self::Throttled { api, attempts: 1 }
        } else if code.starts_with("Rejected.") || code == "Rejetced.PendingDeletion" {
            Self::KeyState(api)
        } else if code == "IllegalTimestamp" {
            Self::IllegalTimestamp(api)
        } else if code == "IncompleteSignature"
            || code.starts_with("SignatureDoesNotMatch")
            || code.starts_with("SignatureNonceUsed")
            || code.starts_with("InvalidSignature")
            || code == "MissingSignature"
        {
            Self::Signature(api)
        } else if code.starts_with("InvalidAccessKeyId") || code.starts_with("InvalidSecurityToken")
        {
            Self::InvalidCredentials(api)
        } else {
            Self::Api(api)
        }
    }

    /// The KMS error code, when KMS answered with one.
    pub fn code(&self) -> Option<&str> {
        self.api().map(|a| a.code.as_str())
    }

    /// The error answer, when there was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Self::KeyNotFound(a)
            | Self::NoPermission(a)
            | Self::KeyState(a)
            | Self::IllegalTimestamp(a)
            | Self::Signature(a)
            | Self::InvalidCredentials(a)
            | Self::Api(a) => Some(a),
            Self::Throttled { api, .. } => Some(api),
            _ => None,
        }
    }

    /// Whether the same request may succeed if sent again later: throttling, 5xx and transport
    /// failures. Client errors are never retried.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Throttled { .. } | Self::Transport { .. } => true,
            Self::Api(a) => a.http_status >= 500,
            _ => false,
        }
    }
}

/// The OpenAPI layer's errors, given KMS's meaning.
impl From<openapi::Error> for KmsError {
    fn from(error: openapi::Error) -> Self {
        match error {
            openapi::Error::Throttled { api, attempts } => Self::Throttled { api, attempts },
            openapi::Error::Api(api) => Self::from_api(api),
            openapi::Error::Transport {
                operation,
                host,
                attempts,
                detail,
            } => Self::Transport {
                operation,
                host,
                attempts,
                detail,
            },
            openapi::Error::MalformedResponse {
                operation,
                http_status,
                detail,
            } => Self::MalformedResponse {
                operation,
                http_status,
                detail,
            },
            openapi::Error::Credentials { operation, error } => {
                Self::Credentials { operation, error }
            }
            openapi::Error::Config(detail) => Self::Config(detail),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> ApiError {
        ApiError {
            operation: "DescribeKey",
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
        }
    }

    #[test]
    fn codes_map_to_variants() {
        assert!(matches!(
            KmsError::from_api(api("Forbidden.KeyNotFound", 404)),
            KmsError::KeyNotFound(_)
        ));
        assert!(matches!(
            KmsError::from_api(api("Forbidden.NoPermission", 403)),
            KmsError::NoPermission(_)
        ));
        assert!(matches!(
            KmsError::from_api(api("Rejected.Disabled", 409)),
            KmsError::KeyState(_)
        ));
        assert!(matches!(
            KmsError::from_api(api("Rejected.Throttling", 429)),
            KmsError::Throttled { .. }
        ));
        assert!(matches!(
            KmsError::from_api(api("Throttling.User", 400)),
            KmsError::Throttled { .. }
        ));
        assert!(matches!(
            KmsError::from_api(api("IllegalTimestamp", 400)),
            KmsError::IllegalTimestamp(_)
        ));
        assert!(matches!(
            KmsError::from_api(api("SignatureDoesNotMatch", 400)),
            KmsError::Signature(_)
        ));
        assert!(matches!(
            KmsError::from_api(api("InvalidAccessKeyId.NotFound", 404)),
            KmsError::InvalidCredentials(_)
        ));
        let internal = KmsError::from_api(api("InternalFailure", 500));
        assert!(internal.is_retryable());
        assert!(!KmsError::from_api(api("InvalidParameter", 400)).is_retryable());
    }

    #[test]
    fn display_names_operation_and_code() {
        let text = KmsError::from_api(api("Rejected.Disabled", 409)).to_string();
        assert_eq!(
            text,
            "kms DescribeKey: rejected by key state (Rejected.Disabled): m"
        );
    }
}
