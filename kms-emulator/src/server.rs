//! The HTTP surface: the OpenAPI endpoint at `/` (KMS, STS, RAM, ActionTrail and BSS, told apart
//! by their API version), CS's ROA paths (`/clusters/...`, `/permissions/...`, [`crate::cs`]),
//! test controls under `/_emulator/`, and the ECS instance-metadata paths used by the credential
//! chain's ECS RAM role source.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use serde_json::{Value, json};

use crate::account::Caller;
use crate::actiontrail::{self, KmsCall};
use crate::api_error::ApiError;
use crate::auth::Incoming;
use crate::faults::{Fault, FaultKind};
use crate::params::Params;
use crate::store::uuid;
use crate::{Emulator, account_routes, bss, cluster_routes, cs, lock, operations, ram, sts};

const KMS_VERSION: &str = "2016-01-20";

/// All routes over shared state.
pub fn router(emulator: Arc<Emulator>) -> Router {
    Router::new()
        .route("/", any(api))
        .route("/_emulator/health", get(|| async { "ok" }))
        .route("/_emulator/keys", get(list_keys))
        .route("/_emulator/rotate", post(rotate))
        .route("/_emulator/disable", post(disable))
        .route("/_emulator/enable", post(enable))
        .route("/_emulator/schedule-deletion", post(schedule_deletion))
        .route("/_emulator/cancel-deletion", post(cancel_deletion))
        .route("/_emulator/set-state", post(set_state))
        .route("/_emulator/expire-sts", post(expire_sts))
        .route(
            "/_emulator/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .merge(account_routes::routes())
        .merge(cluster_routes::routes())
        .merge(cs::routes())
        .route("/latest/api/token", put(sts::imds_token))
        .route("/latest/meta-data/region-id", get(sts::region_id))
        .route(
            "/latest/meta-data/ram/security-credentials/",
            get(sts::role_name),
        )
        .route(
            "/latest/meta-data/ram/security-credentials/{role}",
            get(sts::role_credentials),
        )
        .with_state(emulator)
}

pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// KMS's error body.
pub(crate) fn error_response(error: &ApiError, request_id: &str) -> Response {
    json_response(
        error.status,
        &json!({
            "RequestId": request_id,
            "HostId": "kms-emulator",
            "Code": error.code,
            "Message": error.message,
            "Recommend": format!("https://api.aliyun.com/troubleshoot?q={}", error.code),
        }),
    )
}

/// One OpenAPI request: faults, authentication, dispatch by version and action.
async fn api(
    State(emu): State<Arc<Emulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request_id = uuid().to_uppercase();
    let raw_query = uri.query().unwrap_or_default().to_string();
    let mut params = Params::default();
    params.parse_into(&raw_query);
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.parse_into(&String::from_utf8_lossy(&body));
    }
    let claimed_action = headers
        .get("x-acs-action")
        .and_then(|v| v.to_str().ok())
        .or(params.get("Action"))
        .unwrap_or_default()
        .to_string();

    let fault = lock(&emu.faults).take(&claimed_action);
    if let Some(f) = &fault {
        tracing::info!(action = %claimed_action, fault = ?f.kind, "injecting fault");
        if f.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(f.latency_ms)).await;
        }
        match f.kind {
            FaultKind::ServerError if f.status == Some(503) => {
                return error_response(
                    &ApiError::new(
                        503,
                        "ServiceUnavailable",
                        "The request has failed due to a temporary failure of the server.",
                    ),
                    &request_id,
                );
            }
            FaultKind::ServerError => {
                return error_response(
                    &ApiError::new(
                        500,
                        "InternalFailure",
                        "The request processing has failed due to some unknown error.",
                    ),
                    &request_id,
                );
            }
            FaultKind::Throttle if f.status == Some(400) => {
                return error_response(
                    &ApiError::new(
                        400,
                        "Throttling",
                        "Request was denied due to request throttling.",
                    ),
                    &request_id,
                );
            }
            FaultKind::Throttle => {
                return error_response(
                    &ApiError::new(429, "Rejected.Throttling", "QPS Limit Exceeded"),
                    &request_id,
                );
            }
            _ => {}
        }
    }

    let outcome = handle(&emu, &method, &uri, &headers, &body, &params, &request_id);
    let (status, body) = match &outcome {
        Ok(value) => {
            let mut value = value.clone();
            value["RequestId"] = json!(request_id);
            (StatusCode::OK, value)
        }
        Err(e) => {
            tracing::info!(action = %claimed_action, code = %e.code, status = e.status.as_u16(), "request rejected");
            return with_fault(fault.as_ref(), error_response(e, &request_id), None);
        }
    };
    tracing::debug!(action = %claimed_action, "request served");
    with_fault(
        fault.as_ref(),
        json_response(status, &body),
        Some(body.to_string()),
    )
}

/// Applies the after-processing faults: drop, truncate, malformed.
fn with_fault(fault: Option<&Fault>, response: Response, body: Option<String>) -> Response {
    match fault.map(|f| f.kind) {
        Some(FaultKind::Drop) => {
            let stream = futures_util::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "injected connection drop",
                ))
            });
            Response::builder()
                .status(StatusCode::OK)
                .body(Body::from_stream(stream))
                .unwrap_or(response)
        }
        Some(FaultKind::Truncate) => {
            let full = body.unwrap_or_else(|| "{\"Code\":\"InternalFailure\"}".into());
            let cut = full[..full.len() / 2].to_string();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
                cut,
            )
                .into_response()
        }
        Some(FaultKind::Malformed) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>502 Bad Gateway (injected)</body></html>",
        )
            .into_response(),
        _ => response,
    }
}

fn handle(
    emu: &Emulator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    params: &Params,
    request_id: &str,
) -> Result<Value, ApiError> {
    if !matches!(*method, Method::GET | Method::POST) {
        return Err(ApiError::new(
            405,
            "UnsupportedHTTPMethod",
            format!("The HTTP method {method} is not supported."),
        ));
    }
    // AssumeRoleWithOIDC is unsigned by design: the OIDC token is the proof.
    let unsigned_oidc = params.get("Action") == Some("AssumeRoleWithOIDC")
        && params.get("Signature").is_none()
        && !headers.contains_key("authorization");
    if unsigned_oidc {
        return sts::assume_role_with_oidc(emu, params);
    }
    let verified = lock(&emu.auth).verify(&Incoming {
        method: method.as_str(),
        path: uri.path(),
        raw_query: uri.query().unwrap_or_default(),
        headers,
        body,
        params,
        roa: false,
    })?;
    let caller = lock(&emu.account)
        .caller(&verified.access_key_id, verified.assumed.as_ref())
        .ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            )
        })?;
    let action = verified.action.as_str();
    match verified.version.as_str() {
        KMS_VERSION => {
            let answer = lock(&emu.store).call(action, params);
            record_kms_call(emu, action, &caller, params, &answer, request_id);
            answer
        }
        sts::STS_VERSION => sts::dispatch(emu, &caller, action, params),
        ram::RAM_VERSION => ram::dispatch(&lock(&emu.account), emu.account_since, action, params),
        bss::BSS_VERSION => bss::dispatch(&lock(&emu.account), action),
        actiontrail::ACTIONTRAIL_VERSION => {
            actiontrail::dispatch(&lock(&emu.trail), action, params)
        }
        other => Err(ApiError::new(
            400,
            "InvalidVersion",
            format!("Specified parameter Version {other:?} is not valid."),
        )),
    }
}

/// Records a served KMS call in the emulator's ActionTrail: the key is the answer's `KeyId`
/// (Decrypt names it only there), else the request's, resolved from an alias when it exists.
fn record_kms_call(
    emu: &Emulator,
    action: &str,
    caller: &Caller,
    params: &Params,
    answer: &Result<Value, ApiError>,
    request_id: &str,
) {
    let answered = answer.as_ref().ok().and_then(|v| {
        v.get("KeyId")
            .or_else(|| v.get("KeyMetadata").and_then(|m| m.get("KeyId")))
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let key_id = answered.or_else(|| {
        params.opt("KeyId").map(|k| {
            lock(&emu.store)
                .resolve(k)
                .unwrap_or_else(|_| k.to_string())
        })
    });
    let account_id = lock(&emu.account).account_id.clone();
    let call = KmsCall {
        action,
        write: operations::is_write(action),
        caller,
        account_id: &account_id,
        region: &emu.region,
        key_id: key_id.as_deref(),
        request_id,
        error: answer.as_ref().err(),
    };
    lock(&emu.trail).record(&call, time::OffsetDateTime::now_utc());
}

#[derive(serde::Deserialize)]
struct KeyQuery {
    key: String,
    #[serde(default)]
    days: Option<u32>,
    #[serde(default)]
    state: Option<String>,
}

pub(crate) fn control(result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => error_response(&e, "control"),
    }
}

async fn list_keys(State(emu): State<Arc<Emulator>>) -> Response {
    let store = lock(&emu.store);
    let keys: Vec<Value> = store.keys.values().map(|k| store.metadata(k)).collect();
    json_response(
        StatusCode::OK,
        &json!({ "Keys": keys, "Aliases": store.aliases }),
    )
}

fn describe(emu: &Emulator, key: &str) -> Result<Value, ApiError> {
    let mut p = Params::default();
    p.push("KeyId", key);
    lock(&emu.store).call("DescribeKey", &p)
}

async fn rotate(State(emu): State<Arc<Emulator>>, Query(q): Query<KeyQuery>) -> Response {
    let result = (|| {
        let mut store = lock(&emu.store);
        let version = store.rotate(&q.key)?;
        store.persist()?;
        Ok(json!({ "KeyVersionId": version }))
    })();
    control(result)
}

async fn disable(State(emu): State<Arc<Emulator>>, Query(q): Query<KeyQuery>) -> Response {
    control(lock(&emu.store).force_state(&q.key, "Disabled", None))
}

async fn enable(State(emu): State<Arc<Emulator>>, Query(q): Query<KeyQuery>) -> Response {
    control(lock(&emu.store).force_state(&q.key, "Enabled", None))
}

async fn schedule_deletion(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<KeyQuery>,
) -> Response {
    control(lock(&emu.store).force_state(&q.key, "PendingDeletion", Some(q.days.unwrap_or(7))))
}

async fn cancel_deletion(State(emu): State<Arc<Emulator>>, Query(q): Query<KeyQuery>) -> Response {
    let result = {
        let mut store = lock(&emu.store);
        store.force_state(&q.key, "Enabled", None)
    };
    control(result.and_then(|_| describe(&emu, &q.key)))
}

async fn set_state(State(emu): State<Arc<Emulator>>, Query(q): Query<KeyQuery>) -> Response {
    let Some(state) = q.state.as_deref() else {
        return control(Err(ApiError::missing("state")));
    };
    control(lock(&emu.store).force_state(&q.key, state, q.days))
}

async fn expire_sts(State(emu): State<Arc<Emulator>>) -> Response {
    let n = lock(&emu.auth).expire_sts();
    json_response(StatusCode::OK, &json!({ "Expired": n }))
}

async fn add_fault(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    let mut fault: Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return control(Err(ApiError::invalid("fault", e))),
    };
    if let Err(e) = fault.validate() {
        return control(Err(ApiError::invalid("fault", e)));
    }
    lock(&emu.faults).add(fault.clone());
    json_response(StatusCode::OK, &json!({ "Added": fault }))
}

async fn list_faults(State(emu): State<Arc<Emulator>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "Faults": lock(&emu.faults).pending() }),
    )
}

async fn clear_faults(State(emu): State<Arc<Emulator>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "Cleared": lock(&emu.faults).clear() }),
    )
}
