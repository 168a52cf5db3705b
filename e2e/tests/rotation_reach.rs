//! What `kubectl secretkms rewrite` and `status` say a rewrite moves, proved on the real control
//! plane and in etcd, per layout: KMS v2 with a key_id per version (the rewrite re-wraps every
//! Secret, status says "rewritten" and etcd names the new key_id); KMS v2 with a constant key_id
//! (the rewrite refuses without `--force`, status says "annotated only", and after a forced
//! rewrite every envelope's version annotation still names the old version); KMS v1 (the dry run
//! counts one Encrypt per Secret and the rewrite moves every Secret to the new version); two
//! apiservers (the rewrite waits until both report the new key_id).

use std::process::Output;
use std::time::{Duration, Instant};

use kube::Client;
use secretkms_core::apiserver_metrics::{self, id_hash};
use secretkms_e2e::fixtures::{
    create_secret, kms_v1_key_version, output_json, output_text, plugin_command, run_plugin,
};
use secretkms_e2e::kms::{self, EncryptedObject, KmsStack, KmsStackOptions};
use secretkms_e2e::layout::{KMS_V1_PROVIDER, KMS_V2_PROVIDER, KeyIdMode, KmsApi, Layout};
use secretkms_e2e::{Cluster, ControlPlane, Options};

const EMULATOR: &str = env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e");
const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e");
const SECRETKMS: &str = env!("CARGO_BIN_EXE_secretkms-plugin-e2e");
const ACK_KEY_VERSION: &str = "x-acs-kms-key-version-id.ack.alibabacloud.com";
const SECRETS: usize = 10;
/// The annotation value; any value works, the key's rotation time comes from KMS.
const TIME: &str = "20260101-000000";

async fn start(layout: Layout) -> Cluster {
    layout
        .start(KmsStackOptions::new(EMULATOR, PLUGIN), Options::default())
        .await
        .unwrap_or_else(|e| panic!("starting layout {layout}: {e}"))
}

/// `kubectl-secretkms <args>` against the first apiserver, reaching the emulator's key.
async fn secretkms(cp: &ControlPlane, stack: &KmsStack, args: &[&str]) -> Output {
    run_plugin(SECRETKMS, cp, stack, args).await
}

/// `status -o json` with etcd access.
async fn status(cp: &ControlPlane, stack: &KmsStack) -> serde_json::Value {
    output_json(
        &secretkms(
            cp,
            stack,
            &[
                "status",
                "-o",
                "json",
                "--etcd-endpoints",
                cp.etcd_endpoint(),
                "--time",
                TIME,
            ],
        )
        .await,
    )
}

/// `SECRETS` Secrets in a new namespace.
async fn secrets(cp: &ControlPlane, client: &Client, purpose: &str) -> String {
    let ns = cp.namespace(client, purpose).await.unwrap();
    for i in 0..SECRETS {
        create_secret(client, &ns, &format!("s-{i}")).await;
    }
    ns
}

/// What etcd holds for every Secret of `ns`.
async fn stored(cp: &ControlPlane, ns: &str) -> Vec<(String, Vec<u8>)> {
    let all = cp
        .etcd()
        .prefix(&format!("/registry/secrets/{ns}/"))
        .await
        .unwrap();
    assert_eq!(all.len(), SECRETS, "every Secret of {ns} is in etcd");
    all
}

async fn v2_envelopes(cp: &ControlPlane, ns: &str) -> Vec<EncryptedObject> {
    stored(cp, ns)
        .await
        .iter()
        .map(|(key, raw)| {
            EncryptedObject::from_stored(KMS_V2_PROVIDER, raw)
                .unwrap_or_else(|e| panic!("{key}: {e}"))
        })
        .collect()
}

/// The key_id hash `client`'s apiserver saw last in its plugin's Status.
async fn current_key_id_hash(client: &Client) -> Option<String> {
    let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
    let text = client.request_text(req).await.unwrap();
    let samples = apiserver_metrics::parse(&text, apiserver_metrics::is_encryption_metric);
    apiserver_metrics::key_id_uses(&samples)
        .into_iter()
        .filter_map(|u| u.status_last_seen.map(|t| (t, u.key_id_hash)))
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, h)| h)
}

/// Makes `client`'s apiserver adopt `key_id` now: its KMS check re-reads the plugin's Status
/// (and re-seeds on a new key_id) once its cached answer expires.
async fn adopt(client: &Client, key_id: &str) {
    let want = id_hash(key_id);
    kms::await_key_id_adoption(client, Duration::from_secs(120), || {
        let (client, want) = (client.clone(), want.clone());
        async move { Ok(current_key_id_hash(&client).await.as_deref() == Some(want.as_str())) }
    })
    .await
    .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn per_version_key_ids_are_rewritten_to_the_new_version() {
    runtime().block_on(async {
        let cluster = start(Layout::default()).await;
        let (cp, stack) = (&cluster.control_plane, cluster.kms());
        let client = cp.client().await.unwrap();
        let ns = secrets(cp, &client, "per-version").await;
        let version = stack.admin().rotate(stack.key()).await.unwrap();
        let key_id = format!("{}/{version}", stack.key());
        stack
            .wait_status("the rotated key_id", Duration::from_secs(10), |s| {
                s.key_id == key_id
            })
            .await
            .unwrap();
        adopt(&client, &key_id).await;

        let out = secretkms(
            cp,
            stack,
            &["rewrite", "-A", "--time", TIME, "--wait", "-o", "json"],
        )
        .await;
        let report = output_json(&out);
        assert_eq!(report["failed"], 0, "{}", output_text(&out));
        assert_eq!(report["rotation"]["layout"], "kmsV2PerVersion", "{report}");
        assert_eq!(report["rotation"]["moves"], "yes", "{report}");
        for object in v2_envelopes(cp, &ns).await {
            assert_eq!(object.key_id, key_id, "etcd names the new key_id");
        }

        let status = status(cp, stack).await;
        let progress = &status["rewrite"]["value"];
        assert_eq!(progress["rewritten"], "rewrapped", "{status:#}");
        assert_eq!(progress["done"], progress["total"], "{status:#}");
        assert_eq!(
            status["rotation"]["value"]["layout"], "kmsV2PerVersion",
            "{status:#}"
        );
    });
}

#[test]
fn a_constant_key_id_is_refused_and_reported_as_annotated_only() {
    runtime().block_on(async {
        let cluster = start(Layout {
            key_id_mode: KeyIdMode::Constant,
            ..Default::default()
        })
        .await;
        let (cp, stack) = (&cluster.control_plane, cluster.kms());
        let client = cp.client().await.unwrap();
        let ns = secrets(cp, &client, "constant").await;
        let old = stack.admin().primary_version(stack.key()).await.unwrap();
        let new = stack.admin().rotate(stack.key()).await.unwrap();
        assert_ne!(old, new);

        // What would let a rewrite move Secrets here is a restart after the rotation, read from
        // the apiserver's start time.
        let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
        let metrics = client.request_text(req).await.unwrap();
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("process_start_time_seconds ")),
            "the apiserver exposes its start time"
        );
        let refused = secretkms(cp, stack, &["rewrite", "-A", "--time", TIME]).await;
        assert_eq!(refused.status.code(), Some(2), "{}", output_text(&refused));
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("refusing to rewrite"), "{err}");
        assert!(err.contains("only when the Status key_id changes"), "{err}");
        assert!(err.contains("--force"), "{err}");

        let forced = secretkms(
            cp,
            stack,
            &["rewrite", "-A", "--time", TIME, "--force", "-o", "json"],
        )
        .await;
        let report = output_json(&forced);
        assert_eq!(report["failed"], 0, "{}", output_text(&forced));
        assert_eq!(report["rotation"]["rewritten"], "annotatedOnly", "{report}");

        // Every Secret was written again, and every seed is still wrapped by the old version.
        for object in v2_envelopes(cp, &ns).await {
            assert_eq!(object.key_id, stack.key(), "the key_id is the CMK alone");
            assert_eq!(
                object
                    .annotations
                    .get(ACK_KEY_VERSION)
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
                Some(old.clone()),
                "the envelope names the old version after the forced rewrite"
            );
        }

        let status = status(cp, stack).await;
        let progress = &status["rewrite"]["value"];
        assert_eq!(progress["rewritten"], "annotatedOnly", "{status:#}");
        assert_eq!(progress["done"], progress["total"], "{status:#}");
        assert_eq!(
            status["rotation"]["value"]["layout"], "kmsV2Constant",
            "{status:#}"
        );
        assert!(
            status["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["part"] == "rewrite"
                    && f["message"].as_str().is_some_and(
                        |m| m.contains("cannot move Secrets to the current key version")
                    )),
            "{status:#}"
        );
        let envelopes = status["etcd"]["value"]["envelopes"].as_array().unwrap();
        assert!(
            envelopes
                .iter()
                .all(|e| e["provider"] != "kms-v2" || e["keyVersion"] == old.as_str()),
            "status reads the old version from etcd: {status:#}"
        );
        let table = secretkms(cp, stack, &["status", "--time", TIME]).await;
        let screen = String::from_utf8_lossy(&table.stdout);
        assert!(screen.contains("  annotated only  "), "{screen}");
    });
}

#[test]
fn kms_v1_rewrites_move_every_secret_at_one_encrypt_each() {
    runtime().block_on(async {
        let cluster = start(Layout {
            kms_api: KmsApi::V1,
            ..Default::default()
        })
        .await;
        let (cp, stack) = (&cluster.control_plane, cluster.kms());
        let client = cp.client().await.unwrap();
        let ns = secrets(cp, &client, "v1").await;
        let new = stack.admin().rotate(stack.key()).await.unwrap();

        let dry = output_json(
            &secretkms(
                cp,
                stack,
                &[
                    "rewrite",
                    "-n",
                    &ns,
                    "--time",
                    TIME,
                    "--dry-run",
                    "-o",
                    "json",
                ],
            )
            .await,
        );
        assert_eq!(dry["rotation"]["layout"], "kmsV1", "{dry}");
        assert_eq!(dry["kms"]["kmsApi"], "v1", "{dry}");
        assert_eq!(
            dry["kms"]["calls"], SECRETS as u64,
            "one Encrypt per Secret: {dry}"
        );

        let out = secretkms(
            cp,
            stack,
            &["rewrite", "-n", &ns, "--time", TIME, "-o", "json"],
        )
        .await;
        let report = output_json(&out);
        assert_eq!(report["patched"], SECRETS as u64, "{}", output_text(&out));
        for (key, raw) in stored(cp, &ns).await {
            assert_eq!(
                kms_v1_key_version(KMS_V1_PROVIDER, &raw),
                new,
                "{key} is wrapped by the new version"
            );
        }
    });
}

#[test]
fn two_apiservers_must_both_adopt_the_new_key_id_before_the_rewrite_starts() {
    runtime().block_on(async {
        let cluster = start(Layout {
            apiservers: 2,
            ..Default::default()
        })
        .await;
        let (cp, stack) = (&cluster.control_plane, cluster.kms());
        let [first, second] = cp.apiservers() else {
            panic!("two apiservers")
        };
        let one = first.client().await.unwrap();
        let two = second.client().await.unwrap();
        let ns = secrets(cp, &one, "two-apiservers").await;
        let old_hash = id_hash(&stack.status_of(1).await.unwrap().key_id);

        // The second apiserver asks its plugin's Status about once a minute: rotate right after
        // it did, so it keeps the old key_id while the first is made to adopt the new one.
        let since = Instant::now();
        let mut seen_at = None;
        loop {
            let req = http::Request::get("/metrics").body(Vec::new()).unwrap();
            let text = two.request_text(req).await.unwrap();
            let samples = apiserver_metrics::parse(&text, apiserver_metrics::is_encryption_metric);
            let at = apiserver_metrics::key_id_uses(&samples)
                .into_iter()
                .find(|u| u.key_id_hash == old_hash)
                .and_then(|u| u.status_last_seen);
            if seen_at.is_some() && at != seen_at {
                break;
            }
            seen_at = seen_at.or(at);
            assert!(
                since.elapsed() < Duration::from_secs(90),
                "the second apiserver never polled Status"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let version = stack.admin().rotate(stack.key()).await.unwrap();
        let key_id = format!("{}/{version}", stack.key());
        stack
            .wait_status("the rotated key_id", Duration::from_secs(10), |s| {
                s.key_id == key_id
            })
            .await
            .unwrap();
        while stack.status_of(1).await.unwrap().key_id != key_id {
            assert!(
                since.elapsed() < Duration::from_secs(120),
                "plugin 1 never saw the rotation"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        adopt(&one, &key_id).await;
        assert_eq!(
            current_key_id_hash(&two).await.as_deref(),
            Some(old_hash.as_str()),
            "the second apiserver still reports the old key_id"
        );

        let mut rewrite = plugin_command(
            SECRETKMS,
            cp,
            stack,
            &[
                "rewrite",
                "-n",
                &ns,
                "--time",
                TIME,
                "--wait",
                "--apiserver",
                &second.server,
                "-o",
                "json",
            ],
        );
        let child = rewrite
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        adopt(&two, &key_id).await;
        let out = child.wait_with_output().await.unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("waiting: 2 apiservers seen, 1 report the current key_id"),
            "the rewrite waited for the second apiserver: {}",
            output_text(&out)
        );
        let report = output_json(&out);
        assert_eq!(report["patched"], SECRETS as u64, "{}", output_text(&out));
        assert_eq!(report["rotation"]["moves"], "yes", "{report}");
        for object in v2_envelopes(cp, &ns).await {
            assert_eq!(object.key_id, key_id, "etcd names the new key_id");
        }
    });
}
