//! The fuzz corpus (fuzz/corpus/, minimised with `cargo fuzz cmin`) as a plain regression test, so
//! CI replays every input without nightly: each goes through `Review::decode` and
//! `PolicySet::evaluate` against the fuzzers' states with the same properties the fuzz targets
//! assert (fuzz/src/lib.rs), and through the real `router()`, which must answer 200 or 400 —
//! never 500, never a panic. The corpora of the `state_file` and `policy_config` targets go
//! through `state_file::parse` and `PolicyConfig::from_yaml` + `check` the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use secretkms_core::observations::FileState;
use secretkms_core::policy::{
    CacheDir, Decision, ErrorKind, Outcome, PolicyConfig, PolicyRuntime, PolicySet, PolicySource,
    RuntimeConfig,
};
use secretkms_core::review::Review;
use secretkms_model::{CannedKeys, EncryptionState};
use secretkms_webhook::app::{self, App};
use secretkms_webhook::metrics::Metrics;
use secretkms_webhook::sources::{StateHub, state_file};
use tower::ServiceExt;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Every corpus file of every review target, sorted for a stable order.
fn corpus() -> Vec<(PathBuf, Vec<u8>)> {
    corpus_of(&["review_decode", "policy_input"])
}

fn corpus_of(targets: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    for target in targets {
        let dir = fuzz_dir().join("corpus").join(target);
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            files.push((path, bytes));
        }
    }
    files.sort();
    files
}

fn states() -> Vec<(String, EncryptionState)> {
    let dir = fuzz_dir().join("states");
    let mut states: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let state = serde_json::from_slice(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, state)
        })
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    states
}

fn policies() -> Arc<PolicySet> {
    let keys =
        CannedKeys::from_json(&std::fs::read_to_string(fuzz_dir().join("keys.json")).unwrap())
            .unwrap();
    let runtime = PolicyRuntime::new(RuntimeConfig {
        cache: CacheDir::At(std::env::temp_dir().join("secretkms-webhook-tests-policy-cache")),
        ..Default::default()
    })
    .unwrap();
    Arc::new(
        runtime
            .load(&PolicyConfig::builtin(), Arc::new(keys))
            .unwrap(),
    )
}

/// The properties of fuzz/src/lib.rs `check_decision`.
fn assert_well_formed(what: &str, d: &Decision) {
    if d.allowed() {
        assert_eq!(d.code(), 0, "{what}: allowed with a code");
    } else {
        assert!(d.code() >= 400, "{what}: denied with code {}", d.code());
        assert!(!d.message.is_empty(), "{what}: denied without a message");
    }
    assert!(
        d.warnings
            .iter()
            .all(|w| w.chars().count() <= secretkms_model::warnings::MAX_WARNING_CHARS)
    );
    assert!(
        d.warnings.iter().map(|w| w.chars().count()).sum::<usize>()
            <= secretkms_model::warnings::MAX_TOTAL_WARNING_CHARS
    );
    for p in &d.policies {
        if let Outcome::Errored(e) = &p.outcome {
            assert!(
                !matches!(e.kind, ErrorKind::Trap | ErrorKind::BadVerdict),
                "{what}: builtin policy {} failed: {:?}: {}",
                p.policy,
                e.kind,
                e.message
            );
        }
    }
}

#[test]
fn every_corpus_input_decodes_and_evaluates_without_panic() {
    let corpus = corpus();
    assert!(
        corpus.len() >= 10,
        "the committed corpus is missing: {} files",
        corpus.len()
    );
    let policies = policies();
    let states = states();
    assert!(states.len() >= 5);
    let (mut decoded, mut evaluated) = (0, 0);
    for (path, bytes) in &corpus {
        let Ok(review) = Review::decode(bytes) else {
            continue;
        };
        decoded += 1;
        assert!(!review.head.uid.is_empty());
        for (name, state) in &states {
            let decision = policies.evaluate(&review, state);
            evaluated += 1;
            assert_well_formed(&format!("{} [{name}]", path.display()), &decision);
        }
    }
    // The corpus keeps real reviews, not only rejects: a corpus of garbage proves little.
    assert!(decoded >= 5, "only {decoded} corpus inputs decode");
    assert!(
        evaluated >= 5 * states.len(),
        "only {evaluated} evaluations"
    );
}

#[tokio::test]
async fn every_corpus_input_gets_200_or_400_from_the_router() {
    let hub = StateHub::default();
    let (_, healthy) = states().into_iter().find(|(n, _)| n == "healthy").unwrap();
    hub.update(|o| {
        o.file = Some(FileState {
            state: healthy,
            loaded_at: SystemTime::now(),
        })
    });
    let app = Arc::new(App {
        policies: policies(),
        state: Arc::new(hub),
        metrics: Arc::new(Metrics::new()),
        evaluations: Arc::new(tokio::sync::Semaphore::new(2)),
        large_evaluations: Arc::new(tokio::sync::Semaphore::new(1)),
        bodies: secretkms_webhook::admission::BodyBudget::new(64 << 20),
        default_timeout: std::time::Duration::from_secs(10),
        max_body_bytes: 8 << 20,
        weakenings: Vec::new(),
        shutting_down: Default::default(),
    });
    let router = app::router(app);
    let mut answered = [0usize; 2];
    for (path, bytes) in corpus() {
        let resp = router
            .clone()
            .oneshot(
                Request::post("/validate")
                    .header("content-type", "application/json")
                    .body(Body::from(bytes))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let json: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{}: {status} with a non-JSON body: {e}", path.display()));
        match status {
            StatusCode::OK => {
                answered[0] += 1;
                assert!(
                    json["response"]["allowed"].is_boolean(),
                    "{}",
                    path.display()
                );
            }
            StatusCode::BAD_REQUEST => {
                answered[1] += 1;
                assert!(json["error"].is_string(), "{}", path.display());
            }
            other => panic!("{}: HTTP {other}: {json}", path.display()),
        }
    }
    assert!(
        answered[0] >= 5,
        "only {} reviews answered 200",
        answered[0]
    );
}

/// fuzz/src/lib.rs `check_state_file`: what parses serialises to JSON that parses back equal.
#[test]
fn every_state_file_corpus_input_parses_or_fails_cleanly() {
    let corpus = corpus_of(&["state_file"]);
    assert!(corpus.len() >= 3, "the committed corpus is missing");
    let mut parsed = 0;
    for (path, bytes) in &corpus {
        let Ok(state) = state_file::parse(bytes) else {
            continue;
        };
        parsed += 1;
        let json = serde_json::to_vec(&state).unwrap();
        let again = state_file::parse(&json)
            .unwrap_or_else(|e| panic!("{}: does not parse back: {e}", path.display()));
        assert_eq!(again, state, "{}", path.display());
    }
    assert!(parsed >= 3, "only {parsed} state files parse");
}

/// fuzz/src/lib.rs `check_policy_config`: the load-time check holds what it promises, and
/// every source prints as text that parses back to it.
#[test]
fn every_policy_config_corpus_input_parses_or_fails_cleanly() {
    let corpus = corpus_of(&["policy_config"]);
    assert!(corpus.len() >= 3, "the committed corpus is missing");
    let max_memory = RuntimeConfig::default().max_memory_bytes;
    let (mut parsed, mut checked) = (0, 0);
    for (path, bytes) in &corpus {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        let Ok(config) = PolicyConfig::from_yaml(text, "<corpus>") else {
            continue;
        };
        parsed += 1;
        if config.check(max_memory).is_ok() {
            checked += 1;
            for spec in &config.policies {
                assert!(
                    !spec.name.is_empty() && spec.name.len() <= 63,
                    "{}",
                    path.display()
                );
                assert!(spec.memory_limit_bytes <= max_memory, "{}", path.display());
            }
        }
        for spec in &config.policies {
            let shown = spec.source.to_string();
            let back: PolicySource = shown.parse().unwrap();
            assert_eq!(back, spec.source, "{}: {shown:?}", path.display());
        }
    }
    assert!(parsed >= 2, "only {parsed} configurations parse");
    assert!(checked >= 2, "only {checked} configurations pass the check");
}
