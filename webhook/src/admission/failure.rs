//! The answers to `POST /validate` that are not an AdmissionReview: the call itself failed and
//! the apiserver applies the webhook's `failurePolicy` (docs/decisions/0002-admission-wire-forms.md).
//! Each goes out as `{"error", "code"}` and is counted and logged as what it is.

use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use secretkms_core::review::ReviewError;

use crate::metrics::{BadRequest, Metrics, Unanswered};

/// Why a review got no decision.
#[derive(Debug)]
pub enum Failure {
    /// The content type is not `application/json`: 415.
    ContentType,
    /// The body is larger than `--max-body-bytes`: 413.
    TooLarge { limit: usize },
    /// The body could not be read (the connection failed mid-body): 400.
    Unreadable(String),
    /// Not an `admission.k8s.io/v1` AdmissionReview we can answer: 400.
    Malformed(ReviewError),
    /// No decision within the request's deadline (`?timeout=` minus a margin): 503, just before
    /// the apiserver would give up itself.
    Late { budget: Duration },
    /// The evaluation task panicked: a bug in secretkms, never the policies' doing (they cannot
    /// panic the host): 500. Carries the panic for the log only.
    Panicked(String),
}

impl Failure {
    pub fn status(&self) -> StatusCode {
        match self {
            Failure::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Unreadable(_) | Failure::Malformed(_) => StatusCode::BAD_REQUEST,
            Failure::Late { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Failure::Panicked(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> String {
        match self {
            Failure::ContentType => "content-type must be application/json".into(),
            Failure::TooLarge { limit } => format!("request body exceeds {limit} bytes"),
            Failure::Unreadable(why) => format!("request body could not be read: {why}"),
            Failure::Malformed(e) => format!("malformed AdmissionReview: {e}"),
            Failure::Late { budget } => format!(
                "no decision within the request's deadline of {}ms",
                budget.as_millis()
            ),
            Failure::Panicked(_) => "evaluation failed inside secretkms".into(),
        }
    }

    /// Counts the failure: refused requests as bad requests, the rest as failures to answer.
    pub(crate) fn record(&self, metrics: &Metrics) {
        match self {
            Failure::ContentType => metrics.bad_request(BadRequest::ContentType),
            Failure::TooLarge { .. } => metrics.bad_request(BadRequest::TooLarge),
            Failure::Unreadable(_) => metrics.bad_request(BadRequest::Body),
            Failure::Malformed(e) => {
                metrics.bad_request(BadRequest::MalformedReview);
                tracing::warn!(error = %e, "malformed admission review");
            }
            Failure::Late { budget } => {
                metrics.unanswered(Unanswered::Timeout);
                tracing::warn!(
                    timeout_ms = budget.as_millis() as u64,
                    "admission review not decided before its deadline"
                );
            }
            Failure::Panicked(panic) => {
                metrics.unanswered(Unanswered::Panic);
                tracing::error!(error = %panic, "evaluation task failed");
            }
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "error": self.message(), "code": status.as_u16() });
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use secretkms_core::observations::Observations;

    use super::*;

    fn scrape(metrics: &Metrics) -> String {
        metrics.render(&[], &Observations::default(), SystemTime::now())
    }

    #[test]
    fn each_failure_has_its_status_and_its_counter() {
        let cases = [
            (
                Failure::ContentType,
                415,
                "admission_bad_requests_total{reason=\"content_type\"} 1",
            ),
            (
                Failure::TooLarge { limit: 10 },
                413,
                "admission_bad_requests_total{reason=\"too_large\"} 1",
            ),
            (
                Failure::Unreadable("reset".into()),
                400,
                "admission_bad_requests_total{reason=\"body\"} 1",
            ),
            (
                Failure::Malformed(ReviewError::MissingUid),
                400,
                "admission_bad_requests_total{reason=\"malformed_review\"} 1",
            ),
            (
                Failure::Late {
                    budget: Duration::from_millis(100),
                },
                503,
                "admission_unanswered_total{reason=\"timeout\"} 1",
            ),
            (
                Failure::Panicked("task 1 panicked".into()),
                500,
                "admission_unanswered_total{reason=\"panic\"} 1",
            ),
        ];
        for (failure, status, series) in cases {
            let metrics = Metrics::new();
            failure.record(&metrics);
            let text = scrape(&metrics);
            assert!(
                text.contains(&format!("secretkms_{series}")),
                "{failure:?}: {text}"
            );
            let counted = text
                .lines()
                .filter(|l| l.starts_with("secretkms_admission_") && l.ends_with(" 1"))
                .count();
            assert_eq!(counted, 1, "{failure:?} counted once: {text}");
            assert_eq!(failure.status().as_u16(), status, "{failure:?}");
        }
    }

    #[test]
    fn a_panic_is_not_shown_to_the_apiserver() {
        let body = Failure::Panicked("index out of bounds at src/x.rs:1".into()).message();
        assert_eq!(body, "evaluation failed inside secretkms");
    }
}
