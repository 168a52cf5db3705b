//! The plugin binary over its real unix socket, against the KMS emulator: the gRPC surface the
//! apiserver uses (KMS v2 Status, Encrypt, Decrypt; KMS v1 Version, Encrypt, Decrypt), both
//! key-id modes, rotation, restarts onto another key, key states, throttling and outages; and
//! who may reach the socket ([`socket_access`]).

#[path = "plugin/socket_access.rs"]
mod socket_access;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use secretkms_alibaba::credentials::{Credentials, StaticProvider};
use secretkms_alibaba::kms::{Acknowledged, Endpoint, KmsClient, KmsConfig};
use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, Running, SeedKey,
};
use secretkms_kms_plugin::client::{self, PluginClient};
use secretkms_kms_plugin::key_id::KEY_VERSION_ANNOTATION;
use secretkms_kms_plugin::key_id_mode::{
    ACK_KEY_VERSION_ANNOTATION, ACK_REGION_ANNOTATION, ACK_REQUEST_ID_ANNOTATION,
};
use secretkms_kms_plugin::proto::{
    DecryptRequest, EncryptRequest, EncryptResponse, StatusResponse, v1beta1,
};
use secretkms_kms_plugin::socket::SocketAddress;
use tonic::Code;

const SEED: [u8; 32] = *b"0123456789abcdef0123456789abcdef";

/// How long any wait in these tests may take.
const PATIENCE: Duration = Duration::from_secs(15);

/// The emulator with two keys, `alias/k8s` (A) and `alias/other` (B).
struct Kms {
    emulator: Running,
    /// The CMK id behind `alias/k8s` at start.
    key: String,
    /// The CMK id behind `alias/other`.
    other: String,
    /// A signed KMS client, for what the plugin's test needs to do as another user would.
    client: KmsClient,
}

async fn kms() -> Kms {
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
    let other = emulator.emulator.key_id("alias/other").unwrap();
    let client = KmsClient::new(
        KmsConfig::new(Endpoint::parse(&emulator.url).unwrap()),
        Arc::new(StaticProvider(Credentials::access_key(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_ACCESS_KEY_SECRET,
            "test",
        ))),
    )
    .unwrap();
    Kms {
        emulator,
        key,
        other,
        client,
    }
}

impl Kms {
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

    /// The emulator's admin answer at `/_emulator/<path>`.
    async fn admin_get(&self, path: &str) -> serde_json::Value {
        reqwest::Client::new()
            .get(format!("{}/_emulator/{path}", self.emulator.url))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    }

    /// How many faulted requests are still queued.
    async fn faults_pending(&self) -> u64 {
        self.admin_get("faults").await["Faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["count"].as_u64().unwrap())
            .sum()
    }

    async fn clear_faults(&self) {
        let cleared = reqwest::Client::new()
            .delete(format!("{}/_emulator/faults", self.emulator.url))
            .send()
            .await
            .unwrap();
        assert!(cleared.status().is_success());
    }

    /// The emulator's metadata of CMK `key`.
    async fn metadata(&self, key: &str) -> serde_json::Value {
        self.admin_get("keys").await["Keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["KeyId"] == key)
            .unwrap()
            .clone()
    }

    /// The primary version of CMK `key` as KMS reports it.
    async fn primary_version(&self, key: &str) -> String {
        self.metadata(key).await["PrimaryKeyVersion"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Points `alias` at CMK `key`, as an operator would (DeleteAlias + CreateAlias).
    async fn point_alias(&self, alias: &str, key: &str) {
        self.client
            .call::<Acknowledged>("DeleteAlias", vec![("AliasName".into(), alias.into())])
            .await
            .unwrap();
        self.client.create_alias(alias, key).await.unwrap();
    }
}

/// A running plugin binary, killed when dropped.
struct Plugin {
    child: Option<Child>,
    address: SocketAddress,
    log: PathBuf,
    client: PluginClient,
    _dir: tempfile::TempDir,
}

/// The flags every plugin in these tests gets, unless a test overrides one.
fn flags(kms: &Kms, overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut flags = BTreeMap::from([
        ("key-id".to_string(), "alias/k8s".to_string()),
        ("endpoint".into(), kms.emulator.url.clone()),
        ("poll-interval".into(), "200ms".into()),
        ("log".into(), "info".into()),
    ]);
    for (name, value) in overrides {
        flags.insert(name.to_string(), value.to_string());
    }
    flags
}

impl Plugin {
    /// Starts the binary and waits until it answers Status (healthy or not).
    async fn start(kms: &Kms, overrides: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let address = SocketAddress::Path(dir.path().join("kms.sock"));
        Self::start_on(kms, dir, address, overrides).await
    }

    /// Starts the binary on `address` with its log in `dir`, and waits until it answers
    /// Status (healthy or not) to this process.
    async fn start_on(
        kms: &Kms,
        dir: tempfile::TempDir,
        address: SocketAddress,
        overrides: &[(&str, &str)],
    ) -> Self {
        let log = dir.path().join("plugin.log");
        let mut args: Vec<String> = flags(kms, overrides)
            .into_iter()
            .map(|(name, value)| format!("--{name}={value}"))
            .collect();
        args.push(format!("--listen={address}"));
        let mut child = plugin_command(&args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let since = Instant::now();
        let client = loop {
            if let Ok(mut c) = client::connect(&address).await
                && client::status(&mut c).await.is_ok()
            {
                break c;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the plugin exited early: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            assert!(since.elapsed() < PATIENCE, "the plugin never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Self {
            child: Some(child),
            address,
            log,
            client,
            _dir: dir,
        }
    }

    /// Starts the binary and waits until it is healthy.
    async fn healthy(kms: &Kms, overrides: &[(&str, &str)]) -> (Self, StatusResponse) {
        let mut plugin = Self::start(kms, overrides).await;
        let status = plugin.status_until("ok", |s| s.healthz == "ok").await;
        (plugin, status)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// SIGTERM, then the exit; returns the log.
    async fn stop(mut self) -> String {
        let mut child = self.child.take().unwrap();
        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        let log = self.log();
        assert!(status.success(), "exit {status:?}: {log}");
        log
    }

    async fn status(&mut self) -> StatusResponse {
        client::status(&mut self.client).await.unwrap()
    }

    /// Polls Status until `done` holds (bounded), returning the last answer.
    async fn status_until(
        &mut self,
        what: &str,
        done: impl Fn(&StatusResponse) -> bool,
    ) -> StatusResponse {
        let since = Instant::now();
        loop {
            let s = self.status().await;
            if done(&s) {
                return s;
            }
            assert!(
                since.elapsed() < PATIENCE,
                "waited {PATIENCE:?} for {what}; last status {s:?}; log:\n{}",
                self.log()
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

    async fn v1(&self) -> client::PluginClientV1 {
        client::connect_v1(&self.address).await.unwrap()
    }
}

async fn v1_encrypt(v1: &mut client::PluginClientV1) -> Vec<u8> {
    v1.encrypt(v1beta1::EncryptRequest {
        version: "v1beta1".into(),
        plain: SEED.to_vec(),
    })
    .await
    .unwrap()
    .into_inner()
    .cipher
}

/// The plugin binary with `args` and the emulator's (test-only) AccessKey, no other source.
fn plugin_command(args: &[String]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_secretkms-kms-plugin"));
    command
        .args(args)
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true");
    command
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test]
async fn status_reports_v2_ok_and_the_primary_version_as_key_id() {
    let kms = kms().await;
    let (_plugin, s) = Plugin::healthy(&kms, &[]).await;
    assert_eq!(s.version, "v2");
    assert_eq!(
        s.key_id,
        format!("{}/{}", kms.key, kms.primary_version(&kms.key).await)
    );
}

#[tokio::test]
async fn seeds_round_trip_and_carry_the_key_version_annotation() {
    let kms = kms().await;
    let (mut plugin, status) = Plugin::healthy(&kms, &[]).await;
    let wrapped = plugin.encrypt().await;
    assert_eq!(wrapped.key_id, status.key_id);
    let version = kms.primary_version(&kms.key).await;
    assert_eq!(
        wrapped.annotations[KEY_VERSION_ANNOTATION],
        version.as_bytes()
    );
    assert!(
        !wrapped.ciphertext.windows(SEED.len()).any(|w| w == SEED),
        "the seed must not appear in the ciphertext"
    );
    assert!(wrapped.ciphertext.len() <= 1024);
    let plain = plugin
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
    let kms = kms().await;
    let (mut plugin, before) = Plugin::healthy(&kms, &[]).await;
    let old = plugin.encrypt().await;
    let rotated = kms.control("rotate", "alias/k8s").await;
    let new_version = rotated["KeyVersionId"].as_str().unwrap().to_string();
    let after = plugin
        .status_until("the rotated key_id", |s| s.key_id != before.key_id)
        .await;
    assert_eq!(after.key_id, format!("{}/{new_version}", kms.key));
    assert_eq!(after.healthz, "ok");
    let new = plugin.encrypt().await;
    assert_eq!(new.key_id, after.key_id);
    // The apiserver still holds seeds wrapped under the old version, with the old key_id.
    let plain = plugin
        .decrypt(&old.ciphertext, &old.key_id, old.annotations.clone())
        .await
        .unwrap();
    assert_eq!(plain, SEED);
    assert!(
        !plugin.log().contains("do not match its ciphertext"),
        "a correct label is not warned about"
    );
    // An old blob under the new key_id: KMS decrypts by the blob, the mislabel is a warning.
    let plain = plugin
        .decrypt(&old.ciphertext, &new.key_id, HashMap::new())
        .await
        .unwrap();
    assert_eq!(plain, SEED);
    let log = plugin.stop().await;
    assert!(
        log.contains("do not match its ciphertext") && log.contains(&new_version),
        "{log}"
    );
}

/// Point 8 of issue 10: refusing a seed because its label names another key or version, or a
/// form this plugin does not issue, made Secrets unreadable although KMS could decrypt them.
#[tokio::test]
async fn decrypt_lets_kms_decide_and_warns_when_the_label_disagrees() {
    let kms = kms().await;
    let (mut plugin, _) = Plugin::healthy(&kms, &[]).await;
    let wrapped = plugin.encrypt().await;
    let version = String::from_utf8(wrapped.annotations[KEY_VERSION_ANNOTATION].clone()).unwrap();

    let other_key = format!("{}/{version}", kms.other);
    let labels = [
        (other_key.as_str(), HashMap::new()),
        ("not-a-key-id!", HashMap::new()),
        (
            wrapped.key_id.as_str(),
            HashMap::from([(KEY_VERSION_ANNOTATION.to_string(), b"v-other".to_vec())]),
        ),
    ];
    for (key_id, annotations) in labels {
        let plain = plugin
            .decrypt(&wrapped.ciphertext, key_id, annotations)
            .await
            .unwrap_or_else(|e| panic!("label {key_id:?}: {e:?}"));
        assert_eq!(plain, SEED, "label {key_id:?}");
    }

    // What KMS cannot decrypt is still an error, naming what is wrong.
    let err = plugin
        .decrypt(&[0xff, 0xfe], &wrapped.key_id, HashMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("not text"), "{}", err.message());
    let err = plugin
        .decrypt(b"bm90IGEgYmxvYg==", &wrapped.key_id, HashMap::new())
        .await
        .unwrap_err();
    assert!(err.message().contains("kms Decrypt"), "{}", err.message());

    let log = plugin.stop().await;
    for named in [kms.other.as_str(), "names no kms key", "v-other"] {
        assert!(log.contains(named), "the warning names {named}: {log}");
    }
}

#[tokio::test]
async fn a_disabled_key_is_unhealthy_with_a_reason_until_re_enabled() {
    let kms = kms().await;
    let (mut plugin, healthy) = Plugin::healthy(&kms, &[]).await;
    kms.control("disable", "alias/k8s").await;
    let s = plugin.status_until("not ok", |s| s.healthz != "ok").await;
    assert!(
        s.healthz.contains(&format!("key {}", kms.key))
            && (s.healthz.contains("is Disabled; EnableKey")
                || s.healthz.contains("Rejected.Disabled")),
        "{}",
        s.healthz
    );
    // KMS describes it as Disabled soon: that is the reason Status gives then.
    let s = plugin
        .status_until("the described state", |s| s.healthz.contains("is Disabled"))
        .await;
    assert_eq!(
        s.healthz,
        format!(
            "key {} is Disabled; EnableKey makes it usable again",
            kms.key
        )
    );
    assert_eq!(
        s.key_id, healthy.key_id,
        "key_id stays stable while unhealthy"
    );
    let err = plugin
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
    kms.control("enable", "alias/k8s").await;
    plugin.status_until("ok again", |s| s.healthz == "ok").await;
    plugin.encrypt().await;
}

#[tokio::test]
async fn pending_deletion_names_the_date_and_the_cancel_call() {
    let kms = kms().await;
    let (mut plugin, _) = Plugin::healthy(&kms, &[]).await;
    kms.control("schedule-deletion", "alias/k8s").await;
    let s = plugin
        .status_until("PendingDeletion", |s| s.healthz.contains("PendingDeletion"))
        .await;
    assert!(s.healthz.contains("CancelKeyDeletion"), "{}", s.healthz);
}

/// Point 8 of issue 10: one throttled DescribeKey (another user of the account using up the
/// quota) made healthz not ok, so the apiserver reported KMS unhealthy and the guard denied
/// every write, although Encrypt and Decrypt worked.
#[tokio::test]
async fn healthz_stays_ok_while_describe_key_is_throttled_and_fails_once_the_key_is_disabled() {
    let kms = kms().await;
    let (mut plugin, _) = Plugin::healthy(&kms, &[]).await;
    kms.faults(serde_json::json!({"kind": "throttle", "count": 1000, "action": "DescribeKey"}))
        .await;
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(3) {
        let s = plugin.status().await;
        assert_eq!(s.healthz, "ok", "log:\n{}", plugin.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        kms.faults_pending().await < 1000,
        "the plugin must really have been throttled"
    );
    assert!(
        plugin
            .log()
            .contains("DescribeKey failed; keeping the state"),
        "{}",
        plugin.log()
    );
    let wrapped = plugin.encrypt().await;
    let plain = plugin
        .decrypt(&wrapped.ciphertext, &wrapped.key_id, wrapped.annotations)
        .await
        .unwrap();
    assert_eq!(plain, SEED);

    // DescribeKey still throttled: the self-test's Encrypt is what sees the disabled key.
    kms.control("disable", "alias/k8s").await;
    let s = plugin.status_until("not ok", |s| s.healthz != "ok").await;
    assert!(
        s.healthz
            .starts_with(&format!("Encrypt with key {} fails", kms.key))
            && s.healthz.contains("Rejected.Disabled"),
        "{}",
        s.healthz
    );
    assert!(
        kms.faults_pending().await > 0,
        "DescribeKey is still throttled"
    );
    kms.clear_faults().await;
    kms.control("enable", "alias/k8s").await;
    plugin.status_until("ok again", |s| s.healthz == "ok").await;
}

#[tokio::test]
async fn an_unreachable_kms_is_unhealthy_after_the_grace_and_recovers_by_itself() {
    let kms = kms().await;
    let (mut plugin, _) = Plugin::healthy(&kms, &[("failure-grace", "1s")]).await;
    kms.faults(serde_json::json!({"kind": "drop", "count": 1000}))
        .await;
    // Until the first DescribeKey attempt has failed the text says only that the state is stale;
    // wait for the form that carries the error.
    let s = plugin
        .status_until("not ok, naming the error", |s| {
            s.healthz.contains("more than the 1s grace")
        })
        .await;
    assert!(
        s.healthz.contains(&kms.key) && s.healthz.contains("more than the 1s grace"),
        "{}",
        s.healthz
    );
    kms.clear_faults().await;
    plugin
        .status_until("ok after the outage", |s| s.healthz == "ok")
        .await;
}

#[tokio::test]
async fn kms_v1_round_trips_on_the_same_socket_with_the_primary_version() {
    let kms = kms().await;
    let (plugin, _) = Plugin::healthy(&kms, &[]).await;
    let mut v1 = plugin.v1().await;
    let version = v1
        .version(v1beta1::VersionRequest {
            version: "v1beta1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(version.version, "v1beta1");
    assert_eq!(version.runtime_name, "secretkms-kms-plugin");
    assert_eq!(version.runtime_version, env!("CARGO_PKG_VERSION"));

    let old = v1_encrypt(&mut v1).await;
    assert!(!old.windows(SEED.len()).any(|w| w == SEED));
    // The apiserver calls Encrypt per write: each uses the primary version at that moment.
    let rotated = kms.control("rotate", "alias/k8s").await;
    let new = v1_encrypt(&mut v1).await;
    let unwrapped = kms
        .client
        .decrypt(std::str::from_utf8(&new).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(unwrapped.key_version_id, rotated["KeyVersionId"]);
    for cipher in [old, new] {
        let plain = v1
            .decrypt(v1beta1::DecryptRequest {
                version: "v1beta1".into(),
                cipher,
            })
            .await
            .unwrap()
            .into_inner()
            .plain;
        assert_eq!(plain, SEED);
    }
}

#[tokio::test]
async fn constant_mode_keeps_the_key_id_across_a_rotation_and_moves_the_annotation() {
    let kms = kms().await;
    let (mut plugin, before) = Plugin::healthy(&kms, &[("key-id-mode", "constant")]).await;
    assert_eq!(before.key_id, kms.key);
    let old = plugin.encrypt().await;
    assert_eq!(old.key_id, kms.key);
    let old_version = kms.primary_version(&kms.key).await;
    assert_eq!(
        old.annotations[ACK_KEY_VERSION_ANNOTATION],
        old_version.as_bytes()
    );
    let arn = kms.metadata(&kms.key).await["Arn"]
        .as_str()
        .unwrap()
        .to_string();
    let region = arn.split(':').nth(2).unwrap();
    assert_eq!(old.annotations[ACK_REGION_ANNOTATION], region.as_bytes());
    assert!(!old.annotations[ACK_REQUEST_ID_ANNOTATION].is_empty());
    assert!(!old.annotations.contains_key(KEY_VERSION_ANNOTATION));

    let rotated = kms.control("rotate", "alias/k8s").await;
    let new_version = rotated["KeyVersionId"].as_str().unwrap();
    let new = plugin.encrypt().await;
    assert_eq!(new.key_id, kms.key, "the key_id does not move");
    assert_eq!(
        new.annotations[ACK_KEY_VERSION_ANNOTATION],
        new_version.as_bytes()
    );
    // Several polls later (the plugin has described the new version), Status still says the
    // same key_id: the apiserver keeps its seed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = plugin.status().await;
    assert_eq!(after.key_id, kms.key);
    assert_eq!(after.healthz, "ok");
    for wrapped in [old, new] {
        let plain = plugin
            .decrypt(&wrapped.ciphertext, &wrapped.key_id, wrapped.annotations)
            .await
            .unwrap();
        assert_eq!(plain, SEED);
    }
    let log = plugin.stop().await;
    assert!(!log.contains("do not match its ciphertext"), "{log}");
}

/// Point 8 of issue 10: the plugin resolved its alias once and refused key_ids of any other
/// CMK, so re-pointing the alias and restarting made every older seed undecryptable.
#[tokio::test]
async fn seeds_of_key_a_decrypt_after_the_alias_moves_to_key_b_and_the_plugin_restarts() {
    let kms = kms().await;
    let (mut plugin, _) = Plugin::healthy(&kms, &[]).await;
    let seed = plugin.encrypt().await;
    let v1_cipher = v1_encrypt(&mut plugin.v1().await).await;
    plugin.stop().await;

    kms.point_alias("alias/k8s", &kms.other).await;
    let (mut plugin, status) = Plugin::healthy(&kms, &[]).await;
    assert!(
        status.key_id.starts_with(&format!("{}/", kms.other)),
        "the restarted plugin encrypts with key B: {status:?}"
    );
    let plain = plugin
        .decrypt(&seed.ciphertext, &seed.key_id, seed.annotations.clone())
        .await
        .unwrap();
    assert_eq!(plain, SEED);
    let plain = plugin
        .v1()
        .await
        .decrypt(v1beta1::DecryptRequest {
            version: "v1beta1".into(),
            cipher: v1_cipher,
        })
        .await
        .unwrap()
        .into_inner()
        .plain;
    assert_eq!(plain, SEED);
    assert!(plugin.encrypt().await.key_id.starts_with(&kms.other));
    let log = plugin.stop().await;
    assert!(
        log.contains("wrapped by another kms key") && log.contains(&kms.key),
        "the plugin says key A is still needed: {log}"
    );
}

/// The real binary: a stale socket file replaced at start, and on SIGTERM a clean exit that
/// removes the socket and never logs the credentials.
#[tokio::test]
async fn the_binary_replaces_a_stale_socket_and_cleans_up_on_sigterm() {
    let kms = kms().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bin.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // left behind, as by a crash
    let listen = format!("unix://{}", path.display());
    let mut child = plugin_command(&[
        format!("--listen={listen}"),
        "--key-id=alias/k8s".into(),
        format!("--endpoint={}", kms.emulator.url),
        "--poll-interval=1s".into(),
    ])
    .stderr(Stdio::piped())
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
        assert!(since.elapsed() < PATIENCE, "never healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.key_id.starts_with(&format!("{}/", kms.key)));
    let killed = Command::new("kill")
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
