//! ACK's documented flows on the local ACK (the emulator's CS API driving a real control plane),
//! through the real kubectl and the real plugin binary: a developer of the cluster is stopped by
//! the preflight (no admin/O&M role); the admin's `enable` takes the cluster through `updating`
//! to `running` and verifies KMS health, a canary stored through KMS (read back from etcd) and
//! ActionTrail's Encrypt/Decrypt by `AliyunCSManagedSecurityRole`; a second change at once gets
//! ACK's 409 with its wait; `verify` on its own agrees; `disable` switches the cluster back and
//! the canary is no longer written through KMS, while a Secret written under KMS stays readable.
//! The SecretEncryption follows: created enforcing after enable, audit with force before disable.
//!
//! One test on purpose: the control plane takes a while and every step builds on the last.

use std::path::{Path, PathBuf};
use std::process::Output;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, CustomResourceExt as _};
use secretkms_core::secret_encryption::{CLUSTER, Enforcement, SecretEncryption};
use secretkms_e2e::ack::{AckUser, LocalAck, LocalAckOptions};
use secretkms_e2e::fixtures::{install_crd, local_ack};

/// A folder holding `kubectl-secretkms`, for kubectl's plugin discovery on PATH.
fn plugin_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("kubectl-secretkms");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_secretkms-plugin-e2e"), &link).unwrap();
    let path = std::env::join_paths(std::iter::once(dir.path().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    (dir, PathBuf::from(path))
}

/// `kubectl secretkms <args> -o json` as `user`, every Alibaba Cloud API at the emulator.
async fn secretkms(
    ack: &LocalAck,
    path: &Path,
    home: &Path,
    user: &AckUser,
    args: &[&str],
) -> (Output, serde_json::Value) {
    let cp = ack.control_plane();
    let kubectl = cp.kubectl();
    let mut cmd = tokio::process::Command::new(kubectl.get_program());
    cmd.envs(kubectl.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .env("PATH", path)
        .env("HOME", home)
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("NO_COLOR", "1")
        .env("ALIBABA_CLOUD_ACCESS_KEY_ID", &user.access_key_id)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", user.access_key_secret())
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
        .env("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
        .arg("secretkms")
        .args(args);
    // verify reads no key, so it takes no KMS endpoint.
    if args[0] != "verify" {
        cmd.args(["--kms-endpoint", ack.emulator_url()]);
    }
    cmd.args(["--alibaba-endpoint", ack.emulator_url(), "-o", "json"]);
    let out = cmd.output().await.unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: exit {:?}\n{}\n{}\nagent:\n{}\nemulator:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            ack.agent_log_tail(40),
            ack.emulator_log_tail(40),
        )
    });
    (out, json)
}

fn check<'a>(checks: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#}"))
}

fn level(checks: &serde_json::Value, name: &str) -> String {
    check(checks, name)["level"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn enable_and_disable_take_a_local_ack_cluster_through_acks_flows() {
    let ack = local_ack(LocalAckOptions::new(
        env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e"),
        env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e"),
    ))
    .await;
    let (_dir, path) = plugin_dir();
    let home = tempfile::tempdir().unwrap();
    let cluster = ack.cluster_id().to_string();
    let key = ack.key_id().to_string();
    let region = ack.region().to_string();
    let enable = [
        "enable",
        "--cluster-id",
        &cluster,
        "--key",
        &key,
        "--region",
        &region,
        "--force",
        "--poll-interval",
        "1s",
        "--timeout",
        "5m",
        "--trail-interval",
        "2s",
        "--trail-timeout",
        "2m",
    ];

    // A developer of the cluster: the preflight stops it, --force or not, and ACK is not asked.
    let (out, json) = secretkms(&ack, &path, home.path(), ack.developer(), &enable).await;
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    let role = check(&json["preflight"]["checks"], "caller-cluster-role");
    assert_eq!(role["level"], "fail", "{role}");
    assert!(role["fix"].as_str().unwrap().contains("admin or O&M role"));
    assert_eq!(json["skipped"], "the preflight failed");
    assert_eq!(ack.applied(), 0, "nothing reached the cluster");

    // The guard's CRD (no webhook needed to see enable and disable switch its declaration), and
    // a Secret written before, in plaintext.
    let client = ack.control_plane().client().await.unwrap();
    install_crd(&client, &SecretEncryption::crd()).await;
    let declared = Api::<SecretEncryption>::all(client.clone());
    let secrets = Api::<Secret>::namespaced(client.clone(), "default");
    let secret = |name: &str| Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some([("v".to_string(), ByteString(b"fake-value".to_vec()))].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret("before-enable"))
        .await
        .unwrap();

    // The admin: preflight, UpdateKMSEncryption, updating → running, verified.
    let (out, json) = secretkms(&ack, &path, home.path(), ack.admin(), &enable).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{json:#}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let preflight = &json["preflight"]["checks"];
    for name in [
        "security-role",
        "caller-kms-policy",
        "caller-cluster-role",
        "cluster-state",
    ] {
        assert_eq!(level(preflight, name), "pass", "{name}: {preflight:#}");
    }
    assert_eq!(level(preflight, "kms-calls"), "info", "{preflight:#}");
    assert!(
        check(preflight, "kms-api-version")["detail"]
            .as_str()
            .unwrap()
            .contains("KMS v2")
    );
    assert_eq!(json["update"]["check"]["level"], "pass", "{json:#}");
    assert_eq!(json["update"]["waited"]["outcome"], "running");
    assert_eq!(json["update"]["waited"]["sawUpdating"], true);
    let verification = &json["verification"];
    for name in ["kms-health", "canary", "actiontrail"] {
        assert_eq!(
            level(&verification["checks"], name),
            "pass",
            "{name}: {verification:#}"
        );
    }
    assert!(
        verification["canary"]["prefixes"][0]
            .as_str()
            .unwrap()
            .starts_with("k8s:enc:kms:v2:"),
        "{verification:#}"
    );
    let trail = &verification["actiontrail"];
    assert!(trail["encrypt"].as_u64().unwrap() + trail["decrypt"].as_u64().unwrap() > 0);
    assert_eq!(trail["role"], "AliyunCSManagedSecurityRole");
    assert_eq!(ack.applied(), 1);
    assert_eq!(json["guard"]["level"], "pass", "{json:#}");
    let se = declared.get(CLUSTER).await.unwrap();
    assert_eq!(se.spec.key, key);
    assert_eq!(se.spec.enforcement, Enforcement::Enforce);
    secrets
        .create(&PostParams::default(), &secret("under-kms"))
        .await
        .unwrap();

    // At once again: ACK's cool-down answers 409, reported with the wait.
    let (out, json) = secretkms(&ack, &path, home.path(), ack.admin(), &enable).await;
    assert_eq!(out.status.code(), Some(1), "{json:#}");
    let update = &json["update"]["check"];
    assert_eq!(update["level"], "fail");
    assert!(
        update["detail"].as_str().unwrap().contains("cooling down"),
        "{update}"
    );
    assert!(update["fix"].as_str().unwrap().contains("five minutes"));
    assert_eq!(ack.applied(), 1, "the refused change was not applied");

    // verify on its own agrees.
    let (out, json) = secretkms(
        &ack,
        &path,
        home.path(),
        ack.admin(),
        &[
            "verify",
            "--region",
            &region,
            "--since",
            "30m",
            "--trail-timeout",
            "0s",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{json:#}");
    assert_eq!(level(&json["checks"], "actiontrail"), "pass");

    // disable: the key usable, back to identity, the canary no longer through KMS.
    ack.end_cool_down().await.unwrap();
    let (out, json) = secretkms(
        &ack,
        &path,
        home.path(),
        ack.admin(),
        &[
            "disable",
            "--cluster-id",
            &cluster,
            "--key",
            &key,
            "--region",
            &region,
            "--force",
            "--poll-interval",
            "1s",
            "--timeout",
            "5m",
        ],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{json:#}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(level(&json["preflight"]["checks"], "key-usable"), "pass");
    assert_eq!(json["guard"]["level"], "pass", "{json:#}");
    let se = declared.get(CLUSTER).await.unwrap();
    assert_eq!(
        se.spec.enforcement,
        Enforcement::Audit,
        "audit before KMS goes off"
    );
    assert_eq!(
        se.metadata.annotations.unwrap_or_default()["secretkms.io/force"],
        "true"
    );
    assert_eq!(json["update"]["waited"]["outcome"], "running");
    let verification = &json["verification"];
    assert_eq!(
        level(&verification["checks"], "canary"),
        "pass",
        "{verification:#}"
    );
    assert_eq!(
        verification["canary"]["prefixes"][0], "",
        "identity writes now"
    );
    let remaining = json["remaining"].as_array().unwrap();
    assert!(
        remaining
            .iter()
            .any(|r| r.as_str().unwrap().contains("rewrite -A"))
    );
    assert!(remaining.iter().any(|r| r.as_str().unwrap().contains(&key)));
    // A Secret written under KMS stays readable, and so does the one from before.
    for name in ["before-enable", "under-kms"] {
        let read = secrets
            .get(name)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(read.data.unwrap()["v"].0, b"fake-value");
    }
    assert_eq!(ack.applied(), 2);
}
