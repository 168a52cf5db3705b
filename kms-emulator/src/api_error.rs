//! Error answers in KMS's wire form: an HTTP status and `{"RequestId","HostId","Code","Message"}`.

use axum::http::StatusCode;

/// An error the emulator answers with, using the real code and HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} (http {status}): {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn missing(parameter: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!(
                "The input parameter \"{parameter}\" that is mandatory for processing this request is not supplied."
            ),
        )
    }

    pub fn invalid(parameter: &str, detail: impl std::fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{parameter}\" is not valid: {detail}"),
        )
    }

    pub fn key_not_found(key: &str) -> Self {
        Self::new(
            404,
            "Forbidden.KeyNotFound",
            format!("The specified Key is not found: {key}"),
        )
    }

    /// `Rejected.<State>`: the key's state forbids the operation (HTTP 409).
    pub fn key_state(state: &str, action: &str) -> Self {
        Self::new(
            409,
            format!("Rejected.{state}"),
            format!("The key state is {state}, so {action} is not allowed."),
        )
    }

    pub fn state_modified_failed(state: &str) -> Self {
        Self::new(
            409,
            "Rejected.StateModifiedFailed",
            format!("The key state {state} cannot be changed by this operation."),
        )
    }
}
