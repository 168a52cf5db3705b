//! The HTTP application: routes and the state they share. Built without sockets so that tests
//! drive it with `tower::ServiceExt::oneshot`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use secretkms_core::policy::PolicySet;
use secretkms_core::webhook_readyz;
use tokio::sync::Semaphore;

use crate::admission::{self, BodyBudget};
use crate::metrics::Metrics;
use crate::sources::StateHub;
use crate::weakening::Weakening;

/// What every request handler can reach.
#[derive(Debug)]
pub struct App {
    pub policies: Arc<PolicySet>,
    pub state: Arc<StateHub>,
    pub metrics: Arc<Metrics>,
    /// Bounds concurrent evaluations: each holds a pool slot.
    pub evaluations: Arc<Semaphore>,
    /// The share of `evaluations` that reviews larger than [`admission::INLINE_BODY_BYTES`] may
    /// hold at once, so the typical review always keeps a slot ([`large_share`]).
    pub large_evaluations: Arc<Semaphore>,
    /// Bounds the review bodies held at once ([`crate::memory_budget`]).
    pub bodies: BodyBudget,
    /// The deadline of a review whose apiserver sent no `?timeout=`.
    pub default_timeout: Duration,
    /// Larger review bodies are refused with 413 ([`admission::ReviewBody`]).
    pub max_body_bytes: usize,
    /// Weakenings accepted at start; `/readyz` names each.
    pub weakenings: Vec<Weakening>,
    /// Set on SIGTERM so readiness fails while in-flight requests finish.
    pub shutting_down: AtomicBool,
}

/// How many of `evaluations` slots large reviews may hold at once: half, and at least one. With
/// one slot nothing can be kept back.
pub fn large_share(evaluations: usize) -> usize {
    (evaluations / 2).max(1)
}

impl App {
    /// Ready to take traffic: policies are loaded (they are, once an `App` exists), the state is
    /// known, and no shutdown has begun.
    pub fn ready(&self) -> Result<(), &'static str> {
        if self.shutting_down.load(Ordering::Relaxed) {
            return Err("shutting down");
        }
        if !self.state.snapshot().is_known() {
            return Err("the encryption state is not known yet: no source has answered");
        }
        Ok(())
    }
}

/// The admission routes plus health; the metrics routes are in [`metrics_router`].
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/validate", post(admission::validate))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(app)
}

/// `/metrics` with health, for the plain-HTTP port.
pub fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(app)
}

async fn healthz() -> &'static str {
    "ok"
}

/// `ok` (or `not ready: why`), then one `weakened: ...` line per accepted weakening: ready is
/// not the same as guarding, and whoever reads readiness should see the difference.
async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    let (code, first) = match app.ready() {
        Ok(()) => (StatusCode::OK, "ok".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    };
    (code, webhook_readyz::body(&first, &app.weakenings))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    let body = app.metrics.render(
        &app.policies.runtime().metrics(),
        &app.state.snapshot(),
        SystemTime::now(),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}
