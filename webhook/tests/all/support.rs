//! Shared fixtures: a router with the real default policies and a given state, reviews, and
//! certificates.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use secretkms_core::observations::FileState;
use secretkms_core::policy::{
    CacheDir, NoKeyLookup, PolicyConfig, PolicyRuntime, PolicySet, RuntimeConfig,
};
use secretkms_model::{EncryptionState, KeyState};
use secretkms_webhook::app::App;
use secretkms_webhook::metrics::Metrics;
use secretkms_webhook::sources::StateHub;

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

/// The default policies, compiled once per test binary.
pub fn policies() -> Arc<PolicySet> {
    static SET: OnceLock<Arc<PolicySet>> = OnceLock::new();
    SET.get_or_init(|| {
        let cache = std::env::temp_dir().join("secretkms-webhook-tests-policy-cache");
        let runtime = PolicyRuntime::new(RuntimeConfig {
            cache: CacheDir::At(cache),
            ..Default::default()
        })
        .unwrap();
        Arc::new(
            runtime
                .load(&PolicyConfig::builtin(), Arc::new(NoKeyLookup))
                .unwrap(),
        )
    })
    .clone()
}

/// An app whose state comes from `state` (none: nothing known yet).
pub fn app(state: Option<EncryptionState>, max_body_bytes: usize) -> Arc<App> {
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
        policies: policies(),
        state: Arc::new(hub),
        metrics: Arc::new(Metrics::new()),
        evaluations: tokio::sync::Semaphore::new(2),
        default_timeout: std::time::Duration::from_secs(10),
        max_body_bytes,
        shutting_down: Default::default(),
    })
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
