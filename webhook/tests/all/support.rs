//! Shared fixtures: an app with the real default policies (or test policies built from tiny
//! `.wat` modules) and a given state, reviews, metrics, and certificates.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use secretkms_core::observations::FileState;
use secretkms_core::policy::{
    CacheDir, NoKeyLookup, Operation, PolicyConfig, PolicyRuntime, PolicySet, PolicySource,
    PolicySpec, Rule, RuntimeConfig,
};
use secretkms_model::{EncryptionState, KeyState};
use secretkms_webhook::app::{App, metrics_router};
use secretkms_webhook::metrics::Metrics;
use secretkms_webhook::sources::StateHub;
use tower::ServiceExt;

use crate::policy_component::policy_component;

pub const REVIEW: &str = include_str!("../data/secret-create-review.json");
pub const HEALTHY: &str = include_str!("../data/healthy-state.json");

/// The model's healthy state, its sources just observed.
pub fn healthy() -> EncryptionState {
    let mut state = secretkms_model::fixtures::healthy();
    for s in &mut state.sources {
        s.age_seconds = Some(0);
    }
    state
}

/// `tests/data/healthy-state.json` (also the state file of the TLS test and `hack/bench.sh`) is
/// the model's healthy state in its file form.
#[test]
fn the_healthy_state_file_is_the_model_fixture() {
    let file: EncryptionState = serde_json::from_str(HEALTHY).unwrap();
    assert_eq!(file, secretkms_model::fixtures::healthy());
}

pub fn disabled() -> EncryptionState {
    let mut state = healthy();
    let key = state.key.as_mut().unwrap();
    key.state = KeyState::Disabled;
    key.state_name = "Disabled".into();
    state
}

/// One policy runtime per test binary, as in the webhook.
fn runtime() -> &'static PolicyRuntime {
    static RT: OnceLock<PolicyRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        let cache = std::env::temp_dir().join("secretkms-webhook-tests-policy-cache");
        PolicyRuntime::new(RuntimeConfig {
            cache: CacheDir::At(cache),
            ..Default::default()
        })
        .unwrap()
    })
}

/// The default policies, compiled once per test binary.
pub fn policies() -> Arc<PolicySet> {
    static SET: OnceLock<Arc<PolicySet>> = OnceLock::new();
    SET.get_or_init(|| {
        Arc::new(
            runtime()
                .load(&PolicyConfig::builtin(), Arc::new(NoKeyLookup))
                .unwrap(),
        )
    })
    .clone()
}

/// A test policy named `name`, bound to Secret writes, from the core module text `core_wat`
/// (core/tests/data/*.wat, tests/data/*.wat).
pub fn test_policy(name: &str, core_wat: &str) -> PolicySpec {
    PolicySpec {
        rules: vec![Rule::new(
            &[""],
            &["v1"],
            &["secrets"],
            &[Operation::Create, Operation::Update],
        )],
        ..PolicySpec::new(
            name,
            PolicySource::Bytes(policy_component(core_wat, "").into()),
        )
    }
}

/// `specs` loaded as the webhook loads its configuration.
pub fn policy_set(specs: Vec<PolicySpec>) -> Arc<PolicySet> {
    Arc::new(
        runtime()
            .load(&PolicyConfig { policies: specs }, Arc::new(NoKeyLookup))
            .unwrap(),
    )
}

/// An app with the default policies whose state comes from `state` (none: nothing known yet).
pub fn app(state: Option<EncryptionState>, max_body_bytes: usize) -> Arc<App> {
    app_with(policies(), state, max_body_bytes)
}

/// An app with `policies`.
pub fn app_with(
    policies: Arc<PolicySet>,
    state: Option<EncryptionState>,
    max_body_bytes: usize,
) -> Arc<App> {
    let hub = StateHub::default();
    if let Some(state) = state {
        hub.update(|o| {
            o.file = Some(FileState {
                state,
                loaded_at: SystemTime::now(),
            })
        });
    }
    Arc::new(App {
        policies,
        state: Arc::new(hub),
        metrics: Arc::new(Metrics::new()),
        evaluations: Arc::new(tokio::sync::Semaphore::new(2)),
        large_evaluations: Arc::new(tokio::sync::Semaphore::new(1)),
        bodies: secretkms_webhook::admission::BodyBudget::new(64 << 20),
        default_timeout: std::time::Duration::from_secs(10),
        max_body_bytes,
        weakenings: Vec::new(),
        shutting_down: Default::default(),
    })
}

/// The value of the counter `name` (without `_total`) whose labels include every pair of
/// `labels` in `app`'s `/metrics`, as scraped through the metrics router; 0 when absent.
pub async fn counter(app: &Arc<App>, name: &str, labels: &[(&str, &str)]) -> u64 {
    let resp = metrics_router(app.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let text = resp.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    let series = format!("secretkms_{name}_total{{");
    text.lines()
        .filter(|l| l.starts_with(&series))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The fixture review with a different uid and operation-specific tweaks.
pub fn review(uid: &str, dry_run: bool) -> String {
    let mut v: serde_json::Value = serde_json::from_str(REVIEW).unwrap();
    v["request"]["uid"] = uid.into();
    v["request"]["dryRun"] = dry_run.into();
    v.to_string()
}

/// A CA and a serving certificate for 127.0.0.1, as PEM (ca, cert, key).
pub struct Pki {
    pub ca: String,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Self {
            ca: issuer.pem(),
            issuer,
        }
    }

    /// (certificate PEM, key PEM) signed by this CA; `sans` empty makes a client certificate.
    pub fn leaf(&self, cn: &str, sans: &[&str]) -> (String, String) {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}
