//! `POST /validate`: one AdmissionReview in, one out.
//!
//! Wire forms, chosen on purpose (docs/decisions/0002-admission-wire-forms.md):
//! - a decision — allowed, denied by a policy, or errored (a fail-closed policy trapped, ran out
//!   of time or memory) — is HTTP 200 with an AdmissionReview, made from the decision's kind by
//!   [`review::Response::from_decision`], so the answer and its reason reach the user instead of
//!   a generic "failed calling webhook";
//! - the review itself is unusable (wrong content type, too large, not JSON, not
//!   `admission.k8s.io/v1`), there is no answer within the apiserver's `?timeout=`, or our own
//!   code failed: a non-2xx [`Failure`], to which the apiserver applies the webhook's
//!   `failurePolicy`. The content type, size and deadline are checked by [`ReviewBody`].
//!
//! Secret data is never logged: only uid, kind, namespace, name, operation and user.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use secretkms_core::observations::Observations;
use secretkms_core::policy::DecisionKind;
use secretkms_core::review::{self, Review, ReviewError};

use crate::app::App;

mod failure;
mod review_body;

pub use failure::Failure;
pub use review_body::{BodyBudget, ReviewBody};

pub async fn validate(State(app): State<Arc<App>>, body: ReviewBody) -> Response {
    match answer(&app, body).await {
        Ok(decided) => decided.into_response(),
        Err(failure) => {
            failure.record(&app.metrics);
            failure.into_response()
        }
    }
}

/// Kept between the end of an evaluation and the 503 timer, to encode and send its answer.
const EVALUATION_MARGIN: std::time::Duration = std::time::Duration::from_millis(20);

/// Decodes and evaluates on a blocking thread, under the evaluation semaphore and the deadline.
async fn answer(app: &Arc<App>, body: ReviewBody) -> Result<Decided, Failure> {
    let deadline = body.deadline();
    let ReviewBody {
        bytes,
        share,
        arrived,
        budget,
    } = body;
    let work = {
        let app = app.clone();
        async move {
            let permit = app
                .evaluations
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let observations = app.state.snapshot();
            let evaluator = app.clone();
            // A little before the 503 timer: a policy still running is stopped and answers
            // with its failure mode in time, rather than racing the timer.
            let until = deadline.into_std() - EVALUATION_MARGIN;
            // The permit moves into the work: the slot frees when the evaluation stops (which
            // `until` bounds), not when the timer below answers 503.
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                let _share = share;
                decide(&evaluator, &bytes, &observations, until)
            })
            .await
        }
    };
    let decided = match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(decided)) => decided.map_err(Failure::Malformed)?,
        Ok(Err(join)) => return Err(Failure::Panicked(join.to_string())),
        Err(_elapsed) => return Err(Failure::Late { budget }),
    };
    let took = arrived.elapsed();
    app.metrics
        .admission(&decided.operation, &decided.resource, decided.kind, took);
    tracing::info!(
        uid = %decided.response.uid,
        operation = %decided.operation,
        resource = %decided.resource,
        namespace = %decided.namespace,
        name = %decided.name,
        user = %decided.user,
        allowed = decided.response.allowed,
        code = decided.kind.code(),
        micros = took.as_micros() as u64,
        "admission decided"
    );
    Ok(decided)
}

/// A decided review, with what is needed to log and count it.
struct Decided {
    response: review::Response,
    kind: DecisionKind,
    operation: String,
    resource: String,
    namespace: String,
    name: String,
    user: String,
}

impl IntoResponse for Decided {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "application/json")],
            self.response.to_review_json(),
        )
            .into_response()
    }
}

fn decide(
    app: &App,
    body: &[u8],
    observations: &Observations,
    until: std::time::Instant,
) -> Result<Decided, ReviewError> {
    let review = Review::decode(body)?;
    let state = observations.state_at(SystemTime::now());
    let decision = app.policies.evaluate_until(&review, &state, Some(until));
    let head = &review.head;
    Ok(Decided {
        kind: decision.kind,
        response: review::Response::from_decision(head.uid.as_ref(), decision),
        operation: head.operation.to_string(),
        resource: format!("{}/{}", head.resource.group, head.resource.resource)
            .trim_start_matches('/')
            .to_string(),
        namespace: head.namespace.as_deref().unwrap_or("").to_string(),
        name: head.name.as_deref().unwrap_or("").to_string(),
        user: head.user_info.username.to_string(),
    })
}
