//! The HTTP edge, through `router()` with the real compiled policies: what the apiserver gets
//! back for good, bad and hostile requests.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use secretkms_webhook::app::router;
use serde_json::Value;
use tower::ServiceExt;

use secretkms_core::policy::PolicySpec;

use crate::support::{
    app, app_with, counter, disabled, healthy, policies, policy_set, review, test_policy,
};

const LIMIT: usize = 8 << 20;
const TRAP: &str = include_str!("../../../core/tests/data/trap.wat");
const LOOP: &str = include_str!("../../../core/tests/data/loop.wat");
const DENY_422: &str = include_str!("../data/deny-422.wat");

async fn post(
    app: std::sync::Arc<secretkms_webhook::app::App>,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    post_to(app, "/validate?timeout=10s", content_type, body).await
}

async fn post_to(
    app: std::sync::Arc<secretkms_webhook::app::App>,
    uri: &str,
    content_type: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header("content-type", content_type)
        .body(body.into())
        .unwrap();
    let resp = router(app).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

#[tokio::test]
async fn a_healthy_state_allows_and_echoes_the_uid() {
    let app = app(Some(healthy()), LIMIT);
    let (status, body) = post(app.clone(), "application/json", review("uid-1", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(body["kind"], "AdmissionReview");
    assert_eq!(body["response"]["uid"], "uid-1");
    assert_eq!(body["response"]["allowed"], true);
    assert!(body["response"].get("status").is_none());
    let allowed = [
        ("operation", "CREATE"),
        ("resource", "secrets"),
        ("outcome", "allowed"),
    ];
    assert_eq!(counter(&app, "admission_requests", &allowed).await, 1);
}

#[tokio::test]
async fn a_denial_is_http_200_with_code_403_and_the_fix() {
    let app = app(Some(disabled()), LIMIT);
    let (status, body) = post(app.clone(), "application/json", review("uid-2", false)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a denial is an answer, not a failed call"
    );
    let r = &body["response"];
    assert_eq!(r["uid"], "uid-2");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["status"], "Failure");
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(r["status"]["reason"], "Forbidden");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("EnableKey"),
        "{r}"
    );
    let denied = [("resource", "secrets"), ("outcome", "denied")];
    assert_eq!(counter(&app, "admission_requests", &denied).await, 1);
}

#[tokio::test]
async fn a_denial_with_code_422_goes_out_as_422_invalid() {
    let app = app_with(
        policy_set(vec![test_policy("spec-check", DENY_422)]),
        Some(healthy()),
        LIMIT,
    );
    let (status, body) = post(app.clone(), "application/json", review("uid-422", false)).await;
    assert_eq!(status, StatusCode::OK);
    let r = &body["response"];
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 422);
    assert_eq!(
        r["status"]["reason"], "Invalid",
        "was InternalError while the reason was derived from code == 403"
    );
    assert_eq!(
        r["status"]["message"],
        "spec-check: spec.key is not a key id"
    );
    let outcome = |o| [("resource", "secrets"), ("outcome", o)];
    assert_eq!(
        counter(&app, "admission_requests", &outcome("denied")).await,
        1
    );
    assert_eq!(
        counter(&app, "admission_requests", &outcome("error")).await,
        0
    );
}

#[tokio::test]
async fn a_fail_closed_policy_that_traps_is_http_200_with_code_500_naming_it() {
    let app = app_with(
        policy_set(vec![test_policy("crasher", TRAP)]),
        Some(healthy()),
        LIMIT,
    );
    let (status, body) = post(app.clone(), "application/json", review("uid-500", false)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a policy error is an answer, not a failed call"
    );
    let r = &body["response"];
    assert_eq!(r["uid"], "uid-500");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["status"], "Failure");
    assert_eq!(r["status"]["code"], 500);
    assert_eq!(r["status"]["reason"], "InternalError");
    let message = r["status"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("policy crasher failed: trapped: ")
            && message.ends_with("; denied because its failureMode is fail-closed"),
        "{message}"
    );
    assert!(
        r["auditAnnotations"]["crasher.error"]
            .as_str()
            .is_some_and(|e| e.starts_with("trapped: ")),
        "{r}"
    );
    let outcome = |o| [("resource", "secrets"), ("outcome", o)];
    assert_eq!(
        counter(&app, "admission_requests", &outcome("error")).await,
        1
    );
    assert_eq!(
        counter(&app, "admission_requests", &outcome("denied")).await,
        0
    );
}

/// A review whose apiserver waits 250 ms, of which the webhook keeps 200 ms back (floored at
/// 100 ms).
async fn post_late(app: &std::sync::Arc<secretkms_webhook::app::App>) -> (StatusCode, Value) {
    post_to(
        app.clone(),
        "/validate?timeout=250ms",
        "application/json",
        review("uid-late", false),
    )
    .await
}

#[tokio::test]
async fn a_policy_still_running_at_the_reviews_deadline_is_stopped_and_fails_closed_in_time() {
    // The policy may spin for a second; the review's deadline stops it and its failure mode
    // answers.
    let spinner = PolicySpec {
        timeout_ms: 1_000,
        ..test_policy("spinner", LOOP)
    };
    let app = app_with(policy_set(vec![spinner]), Some(healthy()), LIMIT);
    let (status, json) = post_late(&app).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let r = &json["response"];
    assert_eq!(r["allowed"], false, "{json}");
    assert_eq!(r["status"]["code"], 500, "{json}");
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("stopped at the review's deadline"),
        "{json}"
    );
    assert_eq!(
        counter(&app, "admission_unanswered", &[("reason", "timeout")]).await,
        0
    );
}

#[tokio::test]
async fn a_review_not_decided_before_its_deadline_is_503_and_counted_as_a_timeout() {
    // Every evaluation slot is taken, so the review cannot even start before its deadline.
    let app = app_with(policies(), Some(healthy()), LIMIT);
    let _all_slots = app.evaluations.clone().acquire_many_owned(2).await.unwrap();
    let (status, json) = post_late(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(
        json["error"],
        "no decision within the request's deadline of 100ms"
    );
    assert_eq!(
        counter(&app, "admission_unanswered", &[("reason", "timeout")]).await,
        1
    );
    assert_eq!(
        counter(&app, "admission_bad_requests", &[]).await,
        0,
        "a late answer is not a bad request"
    );
    assert_eq!(counter(&app, "admission_requests", &[]).await, 0);
}

#[tokio::test]
async fn dry_run_requests_are_evaluated_like_others() {
    let (_, body) = post(
        app(Some(disabled()), LIMIT),
        "application/json",
        review("uid-3", true),
    )
    .await;
    assert_eq!(body["response"]["allowed"], false);
}

#[tokio::test]
async fn malformed_reviews_get_400_with_a_json_error() {
    let full = review("uid-4", false);
    let cases: Vec<(&str, String)> = vec![
        ("empty", String::new()),
        ("not json", "hello".into()),
        ("truncated", full[..full.len() / 2].to_string()),
        ("json array", "[1,2]".into()),
        (
            "wrong version",
            full.replace("admission.k8s.io/v1", "admission.k8s.io/v1beta1"),
        ),
        (
            "wrong kind",
            full.replacen("\"AdmissionReview\"", "\"Pod\"", 1),
        ),
        (
            "no request",
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.into(),
        ),
        ("no uid", full.replace("\"uid-4\"", "\"\"")),
        ("uid not a string", full.replace("\"uid-4\"", "42")),
        ("no operation", full.replace("\"CREATE\"", "null")),
        (
            "deep nesting",
            format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)),
        ),
    ];
    for (what, body) in cases {
        let app = app(Some(healthy()), LIMIT);
        let (status, json) = post(app.clone(), "application/json", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {json}");
        assert!(
            json["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{what}: JSON error body: {json}"
        );
        let malformed = [("reason", "malformed_review")];
        assert_eq!(
            counter(&app, "admission_bad_requests", &malformed).await,
            1,
            "{what}"
        );
    }
}

#[tokio::test]
async fn the_content_type_is_checked() {
    let (status, json) = post(
        app(Some(healthy()), LIMIT),
        "text/plain",
        review("u", false),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(json["error"].as_str().unwrap().contains("application/json"));
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_a_large_secret_fits() {
    let (status, json) = post(
        app(Some(healthy()), 64 << 10),
        "application/json",
        "x".repeat(100 << 10),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(json["error"].as_str().unwrap().contains("65536"), "{json}");

    // A 1 MiB Secret UPDATE: object and oldObject in base64, about 2.8 MB.
    let mut v: Value = serde_json::from_str(&review("big", false)).unwrap();
    let blob = "QUJD".repeat((1 << 20) * 4 / 3 / 4);
    v["request"]["operation"] = "UPDATE".into();
    v["request"]["object"]["data"]["blob"] = blob.clone().into();
    v["request"]["oldObject"] = v["request"]["object"].clone();
    let body = v.to_string();
    assert!(body.len() > 2_700_000);
    let (status, json) = post(app(Some(healthy()), LIMIT), "application/json", body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["response"]["allowed"], true);
    let text = json.to_string();
    assert!(
        !text.contains(&blob[..64]),
        "the response never carries Secret data"
    );
}

#[tokio::test]
async fn readiness_waits_for_the_state() {
    let get = |app| async move {
        router(app)
            .oneshot(Request::get("/readyz").body(Body::empty()).unwrap())
            .await
            .unwrap()
            .status()
    };
    assert_eq!(get(app(None, LIMIT)).await, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(get(app(Some(healthy()), LIMIT)).await, StatusCode::OK);
    let shutting = app(Some(healthy()), LIMIT);
    shutting
        .shutting_down
        .store(true, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(get(shutting).await, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn nothing_declared_allows_with_a_warning() {
    let (status, body) = post(app(None, LIMIT), "application/json", review("uid-5", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["response"]["allowed"], true,
        "no SecretEncryption declared: allowed with a warning"
    );
    assert!(
        body["response"]["warnings"]
            .as_array()
            .is_some_and(|w| !w.is_empty()),
        "{body}"
    );
}

/// The fixture review with `bytes` more of Secret data: above the inline limit, a large review.
fn large_review(uid: &str, bytes: usize) -> String {
    let mut v: Value = serde_json::from_str(&review(uid, false)).unwrap();
    v["request"]["object"]["data"]["blob"] = "QUFB".repeat(bytes / 4).into();
    v.to_string()
}

#[tokio::test]
async fn large_reviews_wait_for_their_share_of_the_slots_while_typical_ones_are_decided() {
    use secretkms_webhook::admission::INLINE_BODY_BYTES;
    let app = app(Some(healthy()), LIMIT);
    let large = large_review("uid-large", 2 * INLINE_BODY_BYTES);
    assert!(large.len() > INLINE_BODY_BYTES);

    // With its share free, a large review is decided (on a blocking thread) like any other.
    let (status, json) = post(app.clone(), "application/json", large.clone()).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["response"]["allowed"], true, "{json}");

    // Every slot large reviews may hold is taken (as by other large reviews in flight): the
    // next large one waits until its deadline, while a typical review still gets a slot.
    let _large_share = app.large_evaluations.clone().acquire_owned().await.unwrap();
    let late = post_to(
        app.clone(),
        "/validate?timeout=250ms",
        "application/json",
        large,
    );
    let typical = post(
        app.clone(),
        "application/json",
        review("uid-typical", false),
    );
    let ((late_status, late_json), (status, json)) = tokio::join!(late, typical);
    assert_eq!(late_status, StatusCode::SERVICE_UNAVAILABLE, "{late_json}");
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["response"]["allowed"], true, "{json}");
    assert_eq!(
        app.evaluations.available_permits(),
        2,
        "the waiting large review held no general slot"
    );
}
