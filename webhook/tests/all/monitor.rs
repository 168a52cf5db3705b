//! The KMS side of the monitor against the project's KMS emulator (the real wire protocol over
//! loopback): facts follow the key, and every fault ends as an explicit source error with its
//! reason, without a panic or a busy loop, and clears on its own.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use secretkms_alibaba::credentials::{Credentials, StaticProvider};
use secretkms_alibaba::kms::Endpoint;
use secretkms_core::secret_encryption::SecretEncryptionSpec;
use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, Running,
};
use secretkms_model::{EncryptionState, KeyState};
use secretkms_webhook::metrics::Metrics;
use secretkms_webhook::sources::StateHub;
use secretkms_webhook::sources::kms::{KmsSettings, watch};
use tokio::sync::watch as channel;

struct Monitor {
    emu: Running,
    hub: Arc<StateHub>,
    _spec: channel::Sender<Option<SecretEncryptionSpec>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn monitor(secret: &str) -> Monitor {
    let config = EmulatorConfig {
        seed_keys: vec![
            "alias=k8s-secrets,spec=Aliyun_AES_256,rotation=365d,protection=on"
                .parse()
                .unwrap(),
        ],
        ..Default::default()
    };
    let emu = secretkms_kms_emulator::start(config).await.unwrap();
    let hub = Arc::new(StateHub::default());
    let spec: SecretEncryptionSpec = serde_json::from_value(
        serde_json::json!({ "key": "alias/k8s-secrets", "region": "cn-hangzhou" }),
    )
    .unwrap();
    let (tx, rx) = channel::channel(Some(spec));
    let settings = KmsSettings {
        endpoint: Some(Endpoint::parse(&emu.url).unwrap()),
        vpc: true,
        interval: Duration::from_millis(200),
        credentials: Arc::new(StaticProvider(Credentials::access_key(
            DEFAULT_ACCESS_KEY_ID,
            secret,
            "test",
        ))),
    };
    let task = tokio::spawn(watch(
        rx,
        settings,
        Default::default(),
        hub.clone(),
        Arc::new(Metrics::new()),
    ));
    Monitor {
        emu,
        hub,
        _spec: tx,
        task,
    }
}

impl Monitor {
    fn state(&self) -> EncryptionState {
        self.hub.snapshot().state_at(SystemTime::now())
    }

    /// Waits until `check` holds for the state, or fails with the last state.
    async fn until(&self, what: &str, check: impl Fn(&EncryptionState) -> bool) -> EncryptionState {
        let since = Instant::now();
        loop {
            let state = self.state();
            if check(&state) {
                return state;
            }
            assert!(
                since.elapsed() < Duration::from_secs(15),
                "{what}: never happened; last state {state:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn control(&self, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
        let url = format!("{}/_emulator/{path}", self.emu.url);
        let req = reqwest::Client::new().post(url);
        let req = match body {
            Some(b) => req.body(b.to_string()),
            None => req,
        };
        let resp = req.send().await.unwrap();
        assert!(
            resp.status().is_success(),
            "control {path}: {}",
            resp.status()
        );
        resp.json().await.unwrap()
    }

    async fn fault(&self, kind: &str, count: u32) {
        self.control(
            "faults",
            Some(serde_json::json!({ "kind": kind, "count": count, "action": "DescribeKey" })),
        )
        .await;
    }

    async fn clear_faults(&self) {
        reqwest::Client::new()
            .delete(format!("{}/_emulator/faults", self.emu.url))
            .send()
            .await
            .unwrap();
    }

    async fn pending_faults(&self) -> u64 {
        let v: serde_json::Value = reqwest::get(format!("{}/_emulator/faults", self.emu.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["Faults"]
            .as_array()
            .map(|a| a.iter().filter_map(|f| f["count"].as_u64()).sum())
            .unwrap_or(0)
    }
}

fn kms_error(state: &EncryptionState) -> Option<String> {
    state
        .sources
        .iter()
        .find(|s| s.name == "kms")
        .and_then(|s| s.last_error.clone())
}

fn key_state(state: &EncryptionState) -> Option<KeyState> {
    state.key.as_ref().map(|k| k.state)
}

#[tokio::test]
async fn key_facts_follow_the_key_in_kms() {
    let m = monitor(DEFAULT_ACCESS_KEY_SECRET).await;
    let s = m
        .until("facts arrive", |s| key_state(s) == Some(KeyState::Enabled))
        .await;
    let key = s.key.unwrap();
    assert_eq!(key.spec, "Aliyun_AES_256");
    assert_eq!(key.region.as_deref(), Some("cn-hangzhou"));
    assert_eq!(key.deletion_protection, Some(true));
    let id = key.key_id;
    m.control(&format!("disable?key={id}"), None).await;
    m.until("Disabled seen", |s| {
        key_state(s) == Some(KeyState::Disabled)
    })
    .await;
    m.control(&format!("enable?key={id}"), None).await;
    m.until("Enabled again", |s| key_state(s) == Some(KeyState::Enabled))
        .await;
    let before = m.state().key.unwrap().primary_key_version;
    m.control(&format!("rotate?key={id}"), None).await;
    m.until("new primary version", |s| {
        s.key.as_ref().unwrap().primary_key_version != before
    })
    .await;
}

#[tokio::test]
async fn server_errors_become_a_state_error_that_ages_and_clears() {
    let m = monitor(DEFAULT_ACCESS_KEY_SECRET).await;
    m.until("facts arrive", |s| s.key.is_some()).await;
    m.fault("server-error", 1000).await;
    let s = m.until("error recorded", |s| kms_error(s).is_some()).await;
    let err = kms_error(&s).unwrap();
    assert!(
        err.contains("DescribeKey"),
        "the error names the call: {err}"
    );
    assert!(
        s.key.is_some(),
        "the last good facts are kept to name the key"
    );
    m.clear_faults().await;
    m.until("recovered", |s| kms_error(s).is_none()).await;
}

#[tokio::test]
async fn a_throttling_storm_is_reported_and_backed_off() {
    let m = monitor(DEFAULT_ACCESS_KEY_SECRET).await;
    m.until("facts arrive", |s| s.key.is_some()).await;
    m.fault("throttle", 1000).await;
    let s = m
        .until("throttling recorded", |s| kms_error(s).is_some())
        .await;
    assert!(
        kms_error(&s).unwrap().to_lowercase().contains("throttl"),
        "{:?}",
        kms_error(&s)
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = 1000 - m.pending_faults().await;
    // Polls every 200 ms at best, backing off to 800 ms, each with a few bounded retries: a busy
    // loop would burn through hundreds in two seconds.
    assert!(
        used < 60,
        "{used} requests during a throttling storm of ~2.5 s"
    );
    m.clear_faults().await;
    m.until("recovered", |s| kms_error(s).is_none()).await;
}

#[tokio::test]
async fn truncated_and_malformed_answers_are_explicit_errors() {
    for kind in ["truncate", "malformed", "drop"] {
        let m = monitor(DEFAULT_ACCESS_KEY_SECRET).await;
        m.until("facts arrive", |s| s.key.is_some()).await;
        m.fault(kind, 1000).await;
        let s = m.until(kind, |s| kms_error(s).is_some()).await;
        assert!(!kms_error(&s).unwrap().is_empty());
        m.clear_faults().await;
        m.until("recovered", |s| kms_error(s).is_none()).await;
    }
}

#[tokio::test]
async fn wrong_credentials_are_reported_without_the_secret() {
    let m = monitor("not-the-secret-9f8e7d").await;
    let s = m.until("error recorded", |s| kms_error(s).is_some()).await;
    let err = kms_error(&s).unwrap();
    assert!(
        err.contains("Signature") || err.contains("AccessKey"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-secret-9f8e7d"),
        "the secret is never in an error"
    );
    assert!(s.key.is_none());
}

#[tokio::test]
async fn an_unreachable_endpoint_is_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hub = Arc::new(StateHub::default());
    let spec: SecretEncryptionSpec =
        serde_json::from_value(serde_json::json!({ "key": "alias/x" })).unwrap();
    let (_tx, rx) = channel::channel(Some(spec));
    let settings = KmsSettings {
        endpoint: Some(Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap()),
        vpc: true,
        interval: Duration::from_millis(200),
        credentials: Arc::new(StaticProvider(Credentials::access_key(
            "id", "secret", "test",
        ))),
    };
    let task = tokio::spawn(watch(
        rx,
        settings,
        Default::default(),
        hub.clone(),
        Arc::new(Metrics::new()),
    ));
    let since = Instant::now();
    let err = loop {
        let state = hub.snapshot().state_at(SystemTime::now());
        if let Some(e) = kms_error(&state) {
            break e;
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "no error recorded"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    task.abort();
    assert!(!err.is_empty());
}
