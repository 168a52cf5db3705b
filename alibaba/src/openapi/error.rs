//! Errors of OpenAPI calls as every product answers them: an error answer (code, message,
//! request id), throttling, transport failures, malformed answers, missing credentials. A service
//! module maps these into its own typed error; none contains credentials or payloads (the
//! client builds them through [`super::redact`]).

use crate::credentials::CredentialsError;

/// Result of OpenAPI calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error answered by the service: its code and message as sent, and the request id for support.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub operation: &'static str,
    pub http_status: u16,
    pub code: String,
    pub message: String,
    pub request_id: Option<String>,
}

/// Errors of [`Client`](super::Client) calls, before a service gives them meaning.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `Throttling*` / HTTP 429, still throttled after every retry.
    #[error("{}: throttled ({}) after {attempts} attempts: {}", .api.operation, .api.code, .api.message)]
    Throttled { api: ApiError, attempts: u32 },
    /// Any other error answer.
    #[error("{}: {} (http {}): {}", .0.operation, .0.code, .0.http_status, .0.message)]
    Api(ApiError),
    /// The request never got a complete answer (connect, timeout, reset, cut body).
    #[error("{operation}: request to {host} failed after {attempts} attempts: {detail}")]
    Transport {
        operation: &'static str,
        host: String,
        attempts: u32,
        detail: String,
    },
    /// The service answered, but not with the JSON this operation returns.
    #[error("{operation}: malformed response (http {http_status}): {detail}")]
    MalformedResponse {
        operation: &'static str,
        http_status: u16,
        detail: String,
    },
    /// The chain's error is in the message and deliberately not a `source` (a field named
    /// `source` would be one), so `{:#}` prints it once.
    #[error("{operation}: {error}")]
    Credentials {
        operation: &'static str,
        error: CredentialsError,
    },
    #[error("client configuration: {0}")]
    Config(String),
}

impl Error {
    /// Maps an error answer to `Throttled` or `Api`.
    pub fn from_api(api: ApiError) -> Self {
        if is_throttling(&api.code, api.http_status) {
            Self::Throttled { api, attempts: 1 }
        } else {
            Self::Api(api)
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

    /// The same error, counting `attempts` for the kinds that report them.
    pub(crate) fn after_attempts(self, attempts: u32) -> Self {
        match self {
            Self::Throttled { api, .. } => Self::Throttled { api, attempts },
            Self::Transport {
                operation,
                host,
                detail,
                ..
            } => Self::Transport {
                operation,
                host,
                attempts,
                detail,
            },
            other => other,
        }
    }
}

/// `Throttling`, `Throttling.User`, `Rejected.Throttling`, or HTTP 429.
pub fn is_throttling(code: &str, http_status: u16) -> bool {
    http_status == 429 || code.starts_with("Throttling") || code == "Rejected.Throttling"
}

/// The codes every product answers when it refuses the credentials or their signature
/// (`InvalidAccessKeyId.*`, `InvalidSecurityToken.*`, `SignatureDoesNotMatch`, ...).
pub fn is_credentials_code(code: &str) -> bool {
    code.starts_with("InvalidAccessKeyId")
        || code.starts_with("InvalidSecurityToken")
        || code.starts_with("SignatureDoesNotMatch")
        || code == "IncompleteSignature"
        || code.starts_with("SignatureNonceUsed")
        || code == "IllegalTimestamp"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: &str, status: u16) -> ApiError {
        ApiError {
            operation: "AssumeRole",
            http_status: status,
            code: code.into(),
            message: "m".into(),
            request_id: None,
        }
    }

    #[test]
    fn throttling_and_server_faults_are_retryable() {
        assert!(matches!(
            Error::from_api(api("Throttling.User", 400)),
            Error::Throttled { .. }
        ));
        assert!(Error::from_api(api("Anything", 429)).is_retryable());
        assert!(Error::from_api(api("InternalError", 500)).is_retryable());
        assert!(!Error::from_api(api("InvalidParameter", 400)).is_retryable());
    }

    #[test]
    fn attempts_are_counted_where_they_are_reported() {
        let e = Error::from_api(api("Throttling", 400)).after_attempts(4);
        assert_eq!(
            e.to_string(),
            "AssumeRole: throttled (Throttling) after 4 attempts: m"
        );
    }
}
