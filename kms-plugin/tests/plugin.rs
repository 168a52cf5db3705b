//! The plugin over its real unix socket, against the KMS emulator: the gRPC surface the
//! apiserver uses (Status, Encrypt, Decrypt), rotation, refusals, key states and outages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretkms_alibaba::credentials::{Credentials, StaticProvider};
use secretkms_alibaba::kms::{Endpoint, KmsClient, KmsConfig, RetryPolicy};
use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, Running, SeedKey,
};
use secretkms_kms_plugin::client::{self, PluginClient};
use secretkms_kms_plugin::key_id::KEY_VERSION_ANNOTATION;
use secretkms_kms_plugin::proto::{DecryptRequest, EncryptRequest, EncryptResponse};
use secretkms_kms_plugin::socket::SocketAddress;
use secretkms_kms_plugin::{KeyWatch, Plugin, Server};
use tonic::Code;

const SEED: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

struct Fixture {
    emulator: Running,
    client: PluginClient,
    /// The CMK id behind `alias/k8s`.
    key: String,
    _dir: tempfile::TempDir,
    _server: tokio::task::JoinHandle<()>,
}

async fn fixture(poll: Duration) -> Fixture {
    let emulator = secretkms_kms_emulator::start(EmulatorConfig {
        seed_keys: ["alias=k8s", "alias=other"]
            .iter()
            .map(|s| s.parse::<SeedKey>().unwrap())
            .collect(),
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let key = emulator.emulator.key_id("alias/k8s").unwrap();
    let mut config = KmsConfig::new(Endpoint::parse(&emulator.url).unwrap());
    config.retry = RetryPolicy {
        max_attempts: 2,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
    };
    config.timeout = Duration::from_secs(2);
    let kms = KmsClient::new(
        config,
        Arc::new(StaticProvider(Credentials::access_key(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_ACCESS_KEY_SECRET,
            "test",
        ))),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let address = SocketAddress::Path(dir.path().join("kms.sock"));
    let watch = KeyWatch::new(kms, "alias/k8s", poll);
    tokio::spawn(watch.clone().poll());
    let server = Server::bind(address.clone()).unwrap();
    let task = tokio::spawn(async move {
        server
            .serve(Plugin::new(watch), std::future::pending())
            .await
            .unwrap();
    });
    let client = client::connect(&address).await.unwrap();
    Fixture {
        emulator,
        client,
        key,
        _dir: dir,
        _server: task,
    }
}

impl Fixture {
    async fn control(&self, action: &str, key: &str) -> serde_json::Value {
        let response = reqwest::Client::new()
            .post(
                reqwest::Url::parse_with_params(
                    &format!("{}/_emulator/{action}", self.emulator.url),
                    [("key", key)],
                )
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{action}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn faults(&self, body: serde_json::Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/_emulator/faults", self.emulator.url))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "faults: {}",
            response.status()
        );
    }

    /// The key's primary version as KMS reports it.
    async fn primary_version(&self) -> String {
        let keys = reqwest::Client::new()
            .get(format!("{}/_emulator/keys", self.emulator.url))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        keys["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["KeyId"] == self.key.as_str())
            .unwrap()["PrimaryKeyVersion"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Polls Status until `done` holds (bounded), returning the last answer.
    async fn status_until(
        &mut self,
        what: &str,
        done: impl Fn(&secretkms_kms_plugin::proto::StatusResponse) -> bool,
    ) -> secretkms_kms_plugin::proto::StatusResponse {
        let since = Instant::now();
        loop {
            let s = client::status(&mut self.client).await.unwrap();
            if done(&s) {
                return s;
            }
            assert!(
                since.elapsed() < Duration::from_secs(10),
                "waited 10s for {what}; last status {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn encrypt(&mut self) -> EncryptResponse {
        self.client
            .encrypt(EncryptRequest {
                plaintext: SEED.to_vec(),
                uid: "uid-1".into(),
            })
            .await
            .unwrap()
            .into_inner()
    }

    async fn decrypt(
        &mut self,
        ciphertext: &[u8],
        key_id: &str,
        annotations: HashMap<String, Vec<u8>>,
    ) -> Result<Vec<u8>, tonic::Status> {
        self.client
            .decrypt(DecryptRequest {
                ciphertext: ciphertext.to_vec(),
                uid: "uid-2".into(),
                key_id: key_id.into(),
                annotations,
            })
            .await
            .map(|r| r.into_inner().plaintext)
    }
}

#[tokio::test]
async fn status_reports_v2_ok_and_the_primary_version_as_key_id() {
    let mut f = fixture(Duration::from_millis(200)).await;
    let s = f.status_until("ok", |s| s.healthz == "ok").await;
    assert_eq!(s.version, "v2");
    assert_eq!(s.key_id, format!("{}/{}", f.key, f.primary_version().await));
}

#[tokio::test]
async fn seeds_round_trip_and_carry_the_key_version_annotation() {
    let mut f = fixture(Duration::from_millis(200)).await;
    let status = f.status_until("ok", |s| s.healthz == "ok").await;
    let wrapped = f.encrypt().await;
    assert_eq!(wrapped.key_id, status.key_id);
    let version = f.primary_version().await;
    assert_eq!(
        wrapped.annotations[KEY_VERSION_ANNOTATION],
        version.as_bytes()
    );
    assert!(
        !wrapped.ciphertext.windows(SEED.len()).any(|w| w == SEED),
        "the seed must not appear in the ciphertext"
    );
    assert!(wrapped.ciphertext.len() <= 1024);
    let plain = f
        .decrypt(
            &wrapped.ciphertext,
            &wrapped.key_id,
            wrapped.annotations.clone(),
        )
        .await
        .unwrap();
    assert_eq!(plain, SEED);
}

#[tokio::test]
async fn rotation_changes_key_id_and_old_seeds_still_decrypt() {
    let mut f = fixture(Duration::from_millis(200)).await;
    let before = f.status_until("ok", |s| s.healthz == "ok").await;
    let old = f.encrypt().await;
    let rotated = f.control("rotate", "alias/k8s").await;
    let new_version = rotated["KeyVersionId"].as_str().unwrap().to_string();
    let after = f
        .status_until("the rotated key_id", |s| s.key_id != before.key_id)
        .await;
    assert_eq!(after.key_id, format!("{}/{new_version}", f.key));
    assert_eq!(after.healthz, "ok");
    let new = f.encrypt().await;
    assert_eq!(new.key_id, after.key_id);
    // The apiserver still holds seeds wrapped under the old version, with the old key_id.
    let plain = f
        .decrypt(&old.ciphertext, &old.key_id, old.annotations.clone())
        .await
        .unwrap();
    assert_eq!(plain, SEED);
    // But an old blob presented under the new key_id is a lie the ciphertext exposes.
    let err = f
        .decrypt(&old.ciphertext, &new.key_id, HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains(&old.key_id), "{}", err.message());
}

#[tokio::test]
async fn decrypt_refuses_key_ids_that_are_not_this_keys() {
    let mut f = fixture(Duration::from_millis(200)).await;
    f.status_until("ok", |s| s.healthz == "ok").await;
    let wrapped = f.encrypt().await;
    let other = f.emulator.emulator.key_id("alias/other").unwrap();
    let version = String::from_utf8(wrapped.annotations[KEY_VERSION_ANNOTATION].clone()).unwrap();

    let err = f
        .decrypt(
            &wrapped.ciphertext,
            &format!("{other}/{version}"),
            HashMap::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains(&other) && err.message().contains(&f.key),
        "{}",
        err.message()
    );

    let err = f
        .decrypt(&wrapped.ciphertext, "not-a-key-id", HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("not-a-key-id"), "{}", err.message());

    let wrong_annotation =
        HashMap::from([(KEY_VERSION_ANNOTATION.to_string(), b"v-other".to_vec())]);
    let err = f
        .decrypt(&wrapped.ciphertext, &wrapped.key_id, wrong_annotation)
        .await
        .unwrap_err();
    assert!(err.message().contains("v-other"), "{}", err.message());

    // A version id this key never had, for a real blob.
    let err = f
        .decrypt(
            &wrapped.ciphertext,
            &format!("{}/never-a-version", f.key),
            HashMap::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn a_disabled_key_is_unhealthy_with_a_reason_until_re_enabled() {
    let mut f = fixture(Duration::from_millis(200)).await;
    let healthy = f.status_until("ok", |s| s.healthz == "ok").await;
    f.control("disable", "alias/k8s").await;
    let s = f.status_until("not ok", |s| s.healthz != "ok").await;
    assert_eq!(
        s.healthz,
        format!("key {} is Disabled; EnableKey makes it usable again", f.key)
    );
    assert_eq!(
        s.key_id, healthy.key_id,
        "key_id stays stable while unhealthy"
    );
    let err = f
        .client
        .encrypt(EncryptRequest {
            plaintext: SEED.to_vec(),
            uid: "u".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("Rejected.Disabled"),
        "{}",
        err.message()
    );
    f.control("enable", "alias/k8s").await;
    f.status_until("ok again", |s| s.healthz == "ok").await;
    f.encrypt().await;
}

#[tokio::test]
async fn pending_deletion_names_the_date_and_the_cancel_call() {
    let mut f = fixture(Duration::from_millis(200)).await;
    f.status_until("ok", |s| s.healthz == "ok").await;
    f.control("schedule-deletion", "alias/k8s").await;
    let s = f.status_until("not ok", |s| s.healthz != "ok").await;
    assert!(
        s.healthz.contains("PendingDeletion") && s.healthz.contains("CancelKeyDeletion"),
        "{}",
        s.healthz
    );
}

#[tokio::test]
async fn an_unreachable_kms_is_unhealthy_and_recovers_by_itself() {
    let mut f = fixture(Duration::from_millis(200)).await;
    f.status_until("ok", |s| s.healthz == "ok").await;
    f.faults(serde_json::json!({"kind": "drop", "count": 1000, "action": "DescribeKey"}))
        .await;
    let s = f.status_until("not ok", |s| s.healthz != "ok").await;
    assert!(
        s.healthz
            .starts_with(&format!("cannot describe key {}: kms DescribeKey", f.key)),
        "{}",
        s.healthz
    );
    let cleared = reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", f.emulator.url))
        .send()
        .await
        .unwrap();
    assert!(cleared.status().is_success());
    f.status_until("ok after the outage", |s| s.healthz == "ok")
        .await;
}

/// The real binary: flags and environment credentials, a stale socket file replaced at start,
/// and on SIGTERM a clean exit that removes the socket.
#[tokio::test]
async fn the_binary_replaces_a_stale_socket_and_cleans_up_on_sigterm() {
    let f = fixture(Duration::from_secs(30)).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bin.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // left behind, as by a crash
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_secretkms-kms-plugin"))
        .args([
            &format!("--listen=unix://{}", path.display()),
            "--key-id=alias/k8s",
            &format!("--endpoint={}", f.emulator.url),
            "--poll-interval=1s",
        ])
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let address = SocketAddress::Path(path.clone());
    let since = Instant::now();
    let status = loop {
        if let Ok(mut c) = client::connect(&address).await
            && let Ok(s) = client::status(&mut c).await
            && s.healthz == "ok"
        {
            break s;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the plugin exited early"
        );
        assert!(since.elapsed() < Duration::from_secs(10), "never healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.key_id.starts_with(&format!("{}/", f.key)));
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "exit {:?}: {log}", output.status);
    assert!(!path.exists(), "the socket file is removed on shutdown");
    assert!(log.contains("removing a stale socket file"), "{log}");
    assert!(
        !log.contains(DEFAULT_ACCESS_KEY_SECRET),
        "credentials must not be logged"
    );
}
