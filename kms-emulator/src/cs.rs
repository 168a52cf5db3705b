//! The CS (ACK) OpenAPI 2015-12-15, ROA style: `UpdateKMSEncryption` (`PUT
//! /clusters/{id}/kms`), `DescribeClusterDetail` (`GET /clusters/{id}`) and
//! `DescribeUserPermission` (`GET /permissions/users/{uid}`), over the account model's clusters
//! and grants. Requests are signed with ACS3-HMAC-SHA256 or the ROA HMAC-SHA1 signature the
//! official SDK sends by default; errors use ROA's lowercase body (`code`, `message`,
//! `requestId`). A change is applied by the cluster's agent ([`agent`]).

pub mod agent;
mod describe;
mod update_kms_encryption;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::auth::Incoming;
use crate::params::Params;
use crate::store::uuid;
use crate::{Emulator, lock};

pub const CS_VERSION: &str = "2015-12-15";

/// The ROA paths CS answers on.
pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/clusters/{cluster_id}", any(api))
        .route("/clusters/{cluster_id}/kms", any(api))
        .route("/permissions/users/{uid}", any(api))
}

/// A served answer: JSON, or none (UpdateKMSEncryption).
enum Answer {
    Json(Value),
    Empty,
}

/// ROA's error body.
fn error_response(error: &ApiError, request_id: &str) -> Response {
    let body = json!({
        "code": error.code,
        "message": error.message,
        "requestId": request_id,
        "status": error.status.as_u16(),
    });
    respond(error.status, Some(body), request_id)
}

fn respond(status: StatusCode, body: Option<Value>, request_id: &str) -> Response {
    let mut response = match body {
        Some(body) => (
            status,
            [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
            body.to_string(),
        )
            .into_response(),
        None => status.into_response(),
    };
    if let Ok(id) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-acs-request-id", id);
    }
    response
}

async fn api(
    State(emu): State<Arc<Emulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid().to_uppercase();
    match handle(&emu, &method, &uri, &headers, &body) {
        Ok(Answer::Json(value)) => respond(StatusCode::OK, Some(value), &request_id),
        Ok(Answer::Empty) => respond(StatusCode::OK, None, &request_id),
        Err(e) => {
            tracing::info!(path = %uri.path(), code = %e.code, status = e.status.as_u16(), "cs request rejected");
            error_response(&e, &request_id)
        }
    }
}

fn handle(
    emu: &Arc<Emulator>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Answer, ApiError> {
    let raw_query = uri.query().unwrap_or_default();
    let mut query = Params::default();
    query.parse_into(raw_query);
    let verified = lock(&emu.auth).verify(&Incoming {
        method: method.as_str(),
        path: uri.path(),
        raw_query,
        headers,
        body,
        params: &query,
        roa: true,
    })?;
    if verified.version != CS_VERSION {
        return Err(ApiError::new(
            400,
            "InvalidVersion",
            format!("Specified version {:?} is not valid.", verified.version),
        ));
    }
    let caller = lock(&emu.account)
        .caller(&verified.access_key_id, verified.assumed.as_ref())
        .ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match (
        method.as_str(),
        segments.as_slice(),
        verified.action.as_str(),
    ) {
        ("GET", ["clusters", id], "DescribeClusterDetail") => {
            describe::cluster_detail(emu, id).map(Answer::Json)
        }
        ("GET", ["permissions", "users", uid], "DescribeUserPermission") => {
            Ok(Answer::Json(describe::user_permission(emu, uid)))
        }
        ("PUT", ["clusters", id, "kms"], "UpdateKMSEncryption") => {
            update_kms_encryption::update(emu, &caller, id, body).map(|()| Answer::Empty)
        }
        (method, _, action) => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!(
                "{method} {} is not the path of {action:?} in this emulator",
                uri.path()
            ),
        )),
    }
}
