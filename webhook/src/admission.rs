//! `POST /validate`: one AdmissionReview in, one out.
//!
//! Wire forms, chosen on purpose (docs/decisions/0002-admission-wire-forms.md):
//! - allowed: HTTP 200, `allowed: true`, warnings and audit annotations passed through;
//! - denied by a policy: HTTP 200, `allowed: false`, `status.code` 403 and a message naming the
//!   cause and the fix;
//! - a policy errored (trap, deadline, out of memory): resolved by that policy's own
//!   `failureMode` into a denial (code 500, saying which policy failed and why) or an allow with
//!   a warning — still HTTP 200, so the answer and its reason reach the user instead of a
//!   generic "failed calling webhook";
//! - the review itself is unusable (not JSON, not `admission.k8s.io/v1`, too large, wrong
//!   content type): HTTP 400/413/415 with a JSON error body — the apiserver treats these as a
//!   failed call and applies the webhook's `failurePolicy`;
//! - no answer within the apiserver's `?timeout=`: HTTP 503 just before the deadline, which
//!   the apiserver would otherwise hit itself; `failurePolicy` applies.
//!
//! Secret data is never logged: only uid, kind, namespace, name, operation and user.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secretkms_core::review::{self, Review, ReviewError};

use crate::app::App;

/// Time kept back from the apiserver's deadline to get the answer onto the wire.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

pub async fn validate(
    State(app): State<Arc<App>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    if !is_json(&headers) {
        app.metrics.bad_request("content_type");
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/json".into(),
        );
    }
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let status = rejection.status();
            app.metrics
                .bad_request(if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "too_large"
                } else {
                    "body"
                });
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!("request body exceeds {} bytes", app.max_body_bytes)
            } else {
                format!("request body could not be read: {}", rejection.body_text())
            };
            return error(status, message);
        }
    };
    let timeout = deadline(query.as_deref(), app.default_timeout);

    let work = {
        let app = app.clone();
        async move {
            let _permit = app
                .evaluations
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let observations = app.state.snapshot();
            let evaluator = app.clone();
            tokio::task::spawn_blocking(move || decide(&evaluator, &body, &observations)).await
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok(Ok(decided))) => {
            let outcome = if decided.response.allowed {
                "allowed"
            } else {
                "denied"
            };
            let took = started.elapsed();
            app.metrics
                .admission(&decided.operation, &decided.resource, outcome, took);
            tracing::info!(
                uid = %decided.response.uid,
                operation = %decided.operation,
                resource = %decided.resource,
                namespace = %decided.namespace,
                name = %decided.name,
                user = %decided.user,
                allowed = decided.response.allowed,
                code = decided.response.status.as_ref().map(|s| s.code).unwrap_or(200),
                micros = took.as_micros() as u64,
                "admission decided"
            );
            (
                [(header::CONTENT_TYPE, "application/json")],
                decided.response.to_review_json(),
            )
                .into_response()
        }
        Ok(Ok(Err(bad))) => {
            app.metrics.bad_request("malformed_review");
            tracing::warn!(error = %bad, "malformed admission review");
            error(
                StatusCode::BAD_REQUEST,
                format!("malformed AdmissionReview: {bad}"),
            )
        }
        Ok(Err(join)) => {
            // Only a panic in our own code lands here; policies cannot panic the host.
            app.metrics.bad_request("internal");
            tracing::error!(error = %join, "evaluation task failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "evaluation failed inside secretkms".into(),
            )
        }
        Err(_elapsed) => {
            app.metrics.bad_request("timeout");
            tracing::warn!(
                timeout_ms = timeout.as_millis() as u64,
                "admission review not decided before its deadline"
            );
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "no decision within the request's deadline of {}ms",
                    timeout.as_millis()
                ),
            )
        }
    }
}

/// A decided review, with what is needed to log and count it.
struct Decided {
    response: review::Response,
    operation: String,
    resource: String,
    namespace: String,
    name: String,
    user: String,
}

fn decide(
    app: &App,
    body: &[u8],
    observations: &secretkms_core::observations::Observations,
) -> Result<Decided, ReviewError> {
    let review = Review::decode(body)?;
    let state = observations.state_at(SystemTime::now());
    let decision = app
        .policies
        .evaluate(review.request_json, &state)
        .map_err(|e| ReviewError::Request(e.to_string()))?;
    let head = &review.head;
    let response = review::Response {
        uid: head.uid.to_string(),
        allowed: decision.allowed,
        status: (!decision.allowed).then(|| review::Status {
            code: decision.code,
            message: decision.message.clone(),
            reason: Some(
                if decision.code == 403 {
                    "Forbidden"
                } else {
                    "InternalError"
                }
                .into(),
            ),
        }),
        warnings: decision.warnings,
        audit_annotations: decision.audit_annotations,
    };
    Ok(Decided {
        response,
        operation: head.operation.to_string(),
        resource: format!("{}/{}", head.resource.group, head.resource.kind)
            .trim_start_matches('/')
            .to_string(),
        namespace: head.namespace.as_deref().unwrap_or("").to_string(),
        name: head.name.as_deref().unwrap_or("").to_string(),
        user: head.user_info.username.to_string(),
    })
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

/// The apiserver's remaining budget (`?timeout=10s`) minus a margin, or the default.
fn deadline(query: Option<&str>, default: Duration) -> Duration {
    let sent = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(|v| secretkms_alibaba::duration::parse(v).ok());
    sent.unwrap_or(default)
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(100))
}

fn error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message, "code": status.as_u16() });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_honours_the_apiservers_timeout() {
        assert_eq!(
            deadline(Some("timeout=10s"), Duration::from_secs(30)),
            Duration::from_millis(9800)
        );
        assert_eq!(
            deadline(Some("a=b&timeout=2s"), Duration::from_secs(30)),
            Duration::from_millis(1800)
        );
        assert_eq!(
            deadline(None, Duration::from_secs(5)),
            Duration::from_millis(4800)
        );
        assert_eq!(
            deadline(Some("timeout=junk"), Duration::from_secs(5)),
            Duration::from_millis(4800)
        );
        assert_eq!(
            deadline(Some("timeout=0s"), Duration::from_secs(5)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn content_type_must_be_json() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
