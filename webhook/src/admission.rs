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

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::FutureExt as _;
use secretkms_core::observations::Observations;
use secretkms_core::policy::{Decision, DecisionKind};
use secretkms_core::review::{self, Review, ReviewError};
use secretkms_model::EncryptionState;

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

/// Bodies up to this size are decoded and evaluated on the connection's own task: both take tens
/// of microseconds, less than handing the work to another thread would cost, and the guest
/// yields at every epoch tick. Larger ones (a 1 MiB Secret takes milliseconds to decode) go to a
/// blocking thread under [`App::large_evaluations`] as well, so they cannot take every core from
/// the typical review. Far above the typical Secret review (a few KiB).
pub const INLINE_BODY_BYTES: usize = 64 << 10;

/// Decodes and evaluates under the evaluation semaphore and the deadline: inline for typical
/// bodies, on a blocking thread for large ones.
async fn answer(app: &Arc<App>, body: ReviewBody) -> Result<Decided, Failure> {
    let deadline = body.deadline();
    let ReviewBody {
        bytes,
        share,
        arrived,
        budget,
    } = body;
    // A little before the 503 timer: a policy still running is stopped and answers with its
    // failure mode in time, rather than racing the timer.
    let until = deadline.into_std() - EVALUATION_MARGIN;
    let work = async {
        if bytes.len() <= INLINE_BODY_BYTES {
            let _permit = app
                .evaluations
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let observations = app.state.snapshot();
            let decided = AssertUnwindSafe(decide_inline(app, &bytes, &observations, until))
                .catch_unwind()
                .await;
            drop(share);
            decided.map_err(|panic| Failure::Panicked(panic_message(&*panic)))
        } else {
            // The permits move into the work: the slots free when the evaluation stops (which
            // `until` bounds), not when the timer below answers 503.
            let large = (app.large_evaluations.clone().acquire_owned().await)
                .expect("the semaphore is never closed");
            let permit = (app.evaluations.clone().acquire_owned().await)
                .expect("the semaphore is never closed");
            let observations = app.state.snapshot();
            let evaluator = app.clone();
            tokio::task::spawn_blocking(move || {
                let _permits = (large, permit, share);
                decide_blocking(&evaluator, &bytes, &observations, until)
            })
            .await
            .map_err(|join| Failure::Panicked(join.to_string()))
        }
    };
    let decided = match tokio::time::timeout_at(deadline, work).await {
        Ok(Ok(decided)) => decided.map_err(Failure::Malformed)?,
        Ok(Err(panicked)) => return Err(panicked),
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

/// What a panic carried, for the log (the answer never shows it).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
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

async fn decide_inline(
    app: &App,
    body: &[u8],
    observations: &Observations,
    until: std::time::Instant,
) -> Result<Decided, ReviewError> {
    let (review, state) = judged(body, observations)?;
    let decision = (app.policies)
        .evaluate_async(&review, &state, Some(until))
        .await;
    Ok(Decided::new(&review, decision))
}

fn decide_blocking(
    app: &App,
    body: &[u8],
    observations: &Observations,
    until: std::time::Instant,
) -> Result<Decided, ReviewError> {
    let (review, state) = judged(body, observations)?;
    let decision = app.policies.evaluate_until(&review, &state, Some(until));
    Ok(Decided::new(&review, decision))
}

/// The decoded review and the state it is judged against, now.
fn judged<'b>(
    body: &'b [u8],
    observations: &Observations,
) -> Result<(Review<'b>, EncryptionState), ReviewError> {
    Ok((
        Review::decode(body)?,
        observations.state_at(SystemTime::now()),
    ))
}

impl Decided {
    fn new(review: &Review<'_>, decision: Decision) -> Self {
        let head = &review.head;
        Decided {
            kind: decision.kind,
            response: review::Response::from_decision(head.uid.as_ref(), decision),
            operation: head.operation.to_string(),
            resource: format!("{}/{}", head.resource.group, head.resource.resource)
                .trim_start_matches('/')
                .to_string(),
            namespace: head.namespace.as_deref().unwrap_or("").to_string(),
            name: head.name.as_deref().unwrap_or("").to_string(),
            user: head.user_info.username.to_string(),
        }
    }
}
