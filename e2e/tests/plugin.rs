//! `kubectl secretkms` on a real control plane with real KMS v2 envelope encryption (the KMS
//! emulator and the KMS v2 plugin as processes): 2,000 Secrets, a key rotation, and the rewrite
//! run through the real kubectl's plugin discovery, killed half way and resumed; etcd proves
//! every Secret moved to the new key id and `status` shows the counts move. Then a second
//! rotation is rewritten with `--mode stale-only` (server-side-apply no-ops), and a third by
//! kube-controller-manager's StorageVersionMigrator (`--via storage-version-migration`), which
//! is first refused while no controller runs.
//!
//! One test on purpose for that story: the control plane and 2,000 Secrets take a while, and the
//! steps build on each other. A second test throttles the default rewrite with API Priority and
//! Fairness on a control plane of its own.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, ObjectMeta, PostParams};
use kube::{Api, Client};
use secretkms_e2e::controller_manager::SVM_APISERVER_ARGS;
use secretkms_e2e::fixtures::{create_secret, eventually};
use secretkms_e2e::kms::{self, EncryptedObject, KmsStack, KmsStackOptions};
use secretkms_e2e::{ControlPlane, ControllerManager, EtcdReader, Options};

const PROVIDER: &str = "e2e";
const SECRETS: usize = 2_000;
const ANNOTATION: &str = "encryption-key-rotation-time";

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

/// `kubectl secretkms <args>` through the real kubectl.
fn secretkms(cp: &ControlPlane, path: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = cp.kubectl();
    // kubectl refuses flags before the plugin name, so the kubeconfig goes after it.
    cmd.env("PATH", path)
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("NO_COLOR", "1")
        .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
    let mut fresh = std::process::Command::new(cmd.get_program());
    fresh.envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    fresh.arg("secretkms").args(args);
    fresh
}

/// The command failed, and its error says `why`.
fn refused_saying(out: &Output, why: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(why), "expected {why:?} in: {stderr}");
}

fn json(out: &Output) -> serde_json::Value {
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "exit {:?}: {}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

async fn create_many(client: &Client, ns: &str, count: usize) {
    let sem = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..count {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let api = Api::<Secret>::namespaced(client.clone(), ns);
        tasks.spawn(async move {
            let secret = Secret {
                metadata: ObjectMeta {
                    name: Some(format!("s-{i:05}")),
                    ..Default::default()
                },
                data: Some(BTreeMap::from([(
                    "value".to_string(),
                    ByteString(format!("fake-value-{i}-{}", i * 7919).into_bytes()),
                )])),
                ..Default::default()
            };
            api.create(&PostParams::default(), &secret).await.unwrap();
            drop(permit);
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
}

/// Every Secret's data in the namespace, through the API (decrypted by the apiserver).
async fn all_data(client: &Client, ns: &str) -> BTreeMap<String, BTreeMap<String, ByteString>> {
    Api::<Secret>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|s| (s.metadata.name.unwrap(), s.data.unwrap_or_default()))
        .collect()
}

/// Stored key ids of the namespace's Secrets, counted.
async fn key_ids(etcd: &EtcdReader, ns: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (key, raw) in etcd
        .prefix(&format!("/registry/secrets/{ns}/"))
        .await
        .unwrap()
    {
        let obj =
            EncryptedObject::from_stored(PROVIDER, &raw).unwrap_or_else(|e| panic!("{key}: {e}"));
        *counts.entry(obj.key_id).or_default() += 1;
    }
    counts
}

async fn annotated(client: &Client, time: &str) -> usize {
    Api::<Secret>::all(client.clone())
        .list_metadata(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|s| {
            s.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION))
                .is_some_and(|v| v == time)
        })
        .count()
}

/// Rotates the key and waits until the apiserver writes with the new key id, probing with
/// Secrets in `probe_ns` (not the rewritten namespace, whose counts the test asserts).
async fn rotate(stack: &KmsStack, client: &Client, etcd: &EtcdReader, probe_ns: &str) -> String {
    let key = stack.key().to_string();
    let version = stack.admin().rotate(&key).await.unwrap();
    let key_id = format!("{key}/{version}");
    stack
        .wait_status("the rotated key_id", Duration::from_secs(10), |s| {
            s.key_id == key_id
        })
        .await
        .unwrap();
    static PROBES: AtomicUsize = AtomicUsize::new(0);
    kms::await_key_id_adoption(client, Duration::from_secs(120), || {
        let (client, etcd, want) = (client.clone(), etcd.clone(), key_id.clone());
        async move {
            let name = format!("adoption-probe-{}", PROBES.fetch_add(1, Ordering::SeqCst));
            create_secret(&client, probe_ns, &name).await;
            let raw = etcd
                .get(&format!("/registry/secrets/{probe_ns}/{name}"))
                .await
                .unwrap()
                .unwrap();
            Ok(EncryptedObject::from_stored(PROVIDER, &raw).unwrap().key_id == want)
        }
    })
    .await
    .unwrap();
    key_id
}

fn envelope_count(status: &serde_json::Value, key_id: &str) -> u64 {
    status["etcd"]["value"]["envelopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["provider"] == "kms-v2" && e["keyId"] == key_id)
        .map(|e| e["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn rewrite_moves_every_secret_to_the_new_key_through_kubectl() {
    let started = Instant::now();
    let stack = KmsStack::start(KmsStackOptions::new(
        env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e"),
        env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e"),
    ))
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    // The migration API is served, for the last step.
    let cp = ControlPlane::start(Options {
        encryption: stack.encryption(PROVIDER),
        extra_apiserver_args: SVM_APISERVER_ARGS.map(String::from).to_vec(),
        ..Default::default()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let client = cp.client().await.unwrap();
    let etcd = cp.etcd();
    let ns = cp.namespace(&client, "plugin-rewrite").await.unwrap();
    let probe_ns = cp.namespace(&client, "adoption-probes").await.unwrap();
    let (_plugin_dir, path) = plugin_dir();
    let first_key_id = stack.status().await.unwrap().key_id;

    create_many(&client, &ns, SECRETS).await;
    eprintln!("{SECRETS} Secrets created after {:?}", started.elapsed());
    let before = all_data(&client, &ns).await;
    assert_eq!(before.len(), SECRETS);
    assert_eq!(
        key_ids(&etcd, &ns).await,
        BTreeMap::from([(first_key_id.clone(), SECRETS)])
    );

    let status_args = [
        "status",
        "-o",
        "json",
        "--etcd-endpoints",
        cp.etcd_endpoint(),
        "--time",
        "none-yet",
    ];
    let status_before = json(&secretkms(&cp, &path, &status_args).output().unwrap());
    assert!(
        envelope_count(&status_before, &first_key_id) >= SECRETS as u64,
        "{status_before:#}"
    );
    assert_eq!(
        status_before["apiserver"]["value"]["kmsHealthy"], true,
        "{status_before:#}"
    );

    let second_key_id = rotate(&stack, &client, &etcd, &probe_ns).await;
    eprintln!("rotated and adopted after {:?}", started.elapsed());
    // A fixed TIME: KMS is not reachable from the plugin here (no credentials), and it keeps
    // the run reproducible. `key check`/KMS lookups are covered by the plugin's own tests.
    let time = "20260101-000000";

    // Start a throttled rewrite and kill it half way.
    let mut child = secretkms(
        &cp,
        &path,
        &[
            "rewrite",
            "-A",
            "--time",
            time,
            "--qps",
            "200",
            "--burst",
            "10",
            "--concurrency",
            "4",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    eventually(
        "a quarter of the Secrets rewritten",
        Duration::from_secs(60),
        || async {
            match annotated(&client, time).await {
                n if n >= SECRETS / 4 => Ok(()),
                n => Err(format!("{n} annotated")),
            }
        },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let done_before_kill = annotated(&client, time).await;
    assert!(
        done_before_kill < SECRETS,
        "killed too late to prove resuming ({done_before_kill})"
    );
    eprintln!("killed the first rewrite after {done_before_kill} Secrets");

    // Re-run with the defaults (the adaptive window, no QPS cap): it finishes and skips what
    // was done.
    let rerun = Instant::now();
    let report = json(
        &secretkms(&cp, &path, &["rewrite", "-A", "--time", time, "-o", "json"])
            .output()
            .unwrap(),
    );
    eprintln!("resumed rewrite took {:?}: {report}", rerun.elapsed());
    assert_eq!(report["failed"], 0);
    let skipped = report["alreadyCurrent"].as_u64().unwrap();
    assert!(skipped >= done_before_kill as u64, "{report}");
    assert_eq!(
        report["patched"].as_u64().unwrap() + skipped,
        report["listed"].as_u64().unwrap(),
        "{report}"
    );

    // etcd: every Secret is stored under the new key id; the data is byte-identical.
    assert_eq!(
        key_ids(&etcd, &ns).await,
        BTreeMap::from([(second_key_id.clone(), SECRETS)])
    );
    assert_eq!(all_data(&client, &ns).await, before, "Secret data changed");

    // status: the per-key counts moved, and progress is complete.
    let status_after = json(
        &secretkms(
            &cp,
            &path,
            &[
                "status",
                "-o",
                "json",
                "--etcd-endpoints",
                cp.etcd_endpoint(),
                "--time",
                time,
            ],
        )
        .output()
        .unwrap(),
    );
    assert!(
        envelope_count(&status_after, &second_key_id) >= SECRETS as u64,
        "{status_after:#}"
    );
    assert_eq!(
        envelope_count(&status_before, &first_key_id)
            - envelope_count(&status_after, &first_key_id),
        SECRETS as u64,
        "{status_after:#}"
    );
    let progress = &status_after["rewrite"]["value"];
    assert_eq!(progress["done"], progress["total"], "{status_after:#}");
    let table = secretkms(
        &cp,
        &path,
        &[
            "status",
            "--etcd-endpoints",
            cp.etcd_endpoint(),
            "--time",
            time,
        ],
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("  kms-v2 ") && l.contains(&second_key_id)),
        "the table names the new key id: {text}"
    );
    assert!(text.contains("Apiserver KMS health (/readyz?verbose)\n  configured            yes\n  healthy               yes\n  check kms-providers   ok: ok\n"), "{text}");

    // A second rotation, rewritten with server-side-apply no-ops only: the apiserver rewrites
    // exactly the Secrets it reads as stale.
    let third_key_id = rotate(&stack, &client, &etcd, &probe_ns).await;
    let report = json(
        &secretkms(
            &cp,
            &path,
            &["rewrite", "-n", &ns, "--mode", "stale-only", "-o", "json"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(
        report["rewritten"], SECRETS as u64,
        "every Secret was stale: {report}"
    );
    assert_eq!(
        key_ids(&etcd, &ns).await,
        BTreeMap::from([(third_key_id, SECRETS)])
    );
    assert_eq!(all_data(&client, &ns).await, before, "Secret data changed");
    let again = json(
        &secretkms(
            &cp,
            &path,
            &["rewrite", "-n", &ns, "--mode", "stale-only", "-o", "json"],
        )
        .output()
        .unwrap(),
    );
    assert_eq!(again["rewritten"], 0, "nothing is stale any more: {again}");

    // A third rotation, handed to Kubernetes' own engine. Without a controller the migration
    // gets no status: refused in the given time, and not left behind to run unannounced.
    let fourth_key_id = rotate(&stack, &client, &etcd, &probe_ns).await;
    let via = ["rewrite", "-A", "--via", "storage-version-migration"];
    let refused = secretkms(
        &cp,
        &path,
        &[&via[..], &["--migration-controller-timeout", "3s"]].concat(),
    )
    .output()
    .unwrap();
    refused_saying(&refused, "no StorageVersionMigrator controller is running");
    let mut left = cp.kubectl();
    left.args(["get", "storageversionmigrations", "-o", "name"]);
    assert_eq!(
        kubectl_ok(left, ""),
        "",
        "the refused migration was deleted"
    );
    assert_eq!(
        key_ids(&etcd, &ns).await.get(&fourth_key_id),
        None,
        "nothing moved yet"
    );

    let kcm = ControllerManager::start_storage_version_migrator(&cp, cp.dir())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let migrated = Instant::now();
    let out = secretkms(&cp, &path, &[&via[..], &["-o", "json"]].concat())
        .output()
        .unwrap();
    if !out.status.success() {
        panic!(
            "{}\nkube-controller-manager:\n{}",
            String::from_utf8_lossy(&out.stderr),
            kcm.log_tail(40)
        );
    }
    let report = json(&out);
    eprintln!(
        "storage version migration took {:?}: {report}",
        migrated.elapsed()
    );
    assert_eq!(report["via"], "storageVersionMigration", "{report}");
    assert_eq!(report["mode"], "stale-only", "{report}");
    assert!(
        report.get("finalConcurrency").is_none() && report.get("peakConcurrency").is_none(),
        "the controller wrote, not this client: no concurrency figures: {report}"
    );
    let conditions = report["migration"]["conditions"].as_array().unwrap();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Succeeded" && c["status"] == "True"),
        "{report}"
    );
    assert!(
        report["listed"].as_u64().unwrap() >= SECRETS as u64,
        "{report}"
    );
    assert_eq!(
        key_ids(&etcd, &ns).await,
        BTreeMap::from([(fourth_key_id, SECRETS)]),
        "etcd: the controller moved every Secret"
    );
    assert_eq!(all_data(&client, &ns).await, before, "Secret data changed");
    eprintln!("done after {:?}", started.elapsed());
}

/// The user the throttled rewrite runs as: not `system:masters`, which flow control exempts.
const REWRITER: &str = "secretkms-rewriter";
const THROTTLED_SECRETS: usize = 300;

/// RBAC for [`REWRITER`] in `ns`, and an APF priority level of one seat that rejects rather than
/// queues, for every request of that user.
fn throttling(ns: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {REWRITER}, namespace: {ns}}}
rules: [{{apiGroups: [\"\"], resources: [secrets], verbs: [get, list, patch]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: {REWRITER}, namespace: {ns}}}
subjects: [{{kind: User, apiGroup: rbac.authorization.k8s.io, name: {REWRITER}}}]
roleRef: {{kind: Role, apiGroup: rbac.authorization.k8s.io, name: {REWRITER}}}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {{name: {REWRITER}}}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    lendablePercent: 0
    borrowingLimitPercent: 0
    limitResponse: {{type: Reject}}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {{name: {REWRITER}}}
spec:
  priorityLevelConfiguration: {{name: {REWRITER}}}
  matchingPrecedence: 100
  distinguisherMethod: {{type: ByUser}}
  rules:
  - subjects: [{{kind: User, user: {{name: {REWRITER}}}}}]
    resourceRules: [{{verbs: [\"*\"], apiGroups: [\"*\"], resources: [\"*\"], clusterScope: true, namespaces: [\"*\"]}}]
    nonResourceRules: [{{verbs: [\"*\"], nonResourceURLs: [\"*\"]}}]
"
    )
}

fn kubectl_ok(mut cmd: std::process::Command, stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The default rewrite, on a control plane of two seats in all whose flow control gives the
/// rewriter's user one seat and rejects the rest with 429: the window backs off below where it
/// starts, every 429 is retried after its Retry-After, and every Secret is annotated with its
/// data unchanged.
#[tokio::test]
async fn the_default_rewrite_backs_off_when_flow_control_throttles_it_and_still_finishes() {
    let cp = ControlPlane::start(Options {
        extra_apiserver_args: vec![
            "--max-requests-inflight=1".into(),
            "--max-mutating-requests-inflight=1".into(),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cp.client().await.unwrap();
    let ns = cp.namespace(&client, "rewrite-throttled").await.unwrap();
    create_many(&client, &ns, THROTTLED_SECRETS).await;
    let before = all_data(&client, &ns).await;

    let mut apply = cp.kubectl();
    apply.args(["apply", "-f", "-"]);
    kubectl_ok(apply, &throttling(&ns));
    let mut get = cp.kubectl();
    get.args([
        "get",
        "flowschema",
        REWRITER,
        "-o",
        "jsonpath={.metadata.uid}",
    ]);
    let flow_schema = kubectl_ok(get, "");

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("rewriter.kubeconfig");
    let user = cp.ca().client(REWRITER, None).unwrap();
    secretkms_e2e::kubeconfig::write(&kubeconfig, &cp.server, &cp.ca().cert_pem(), &user).unwrap();
    let time = "20260101-000000";
    let rewrite = |more: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_secretkms-plugin-e2e"));
        cmd.args(["rewrite", "--kubeconfig"])
            .arg(&kubeconfig)
            .args(["-n", &ns, "--time", time, "-o", "json"])
            .args(more)
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID");
        json(&cmd.output().unwrap())
    };
    // The apiserver applies flow-control objects asynchronously: wait until the (uncontended)
    // dry run's requests come back classified by the new flow schema.
    eventually(
        "the rewriter classified by the test's flow schema",
        Duration::from_secs(60),
        || async {
            let report = rewrite(&["--dry-run"]);
            match report["apf"]["flowSchemaUid"].as_str() {
                Some(uid) if uid == flow_schema => Ok(()),
                _ => Err(format!("{report}")),
            }
        },
    )
    .await;

    // This control plane does not serve the migration API: refused, saying what to enable.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_secretkms-plugin-e2e"))
        .args([
            "rewrite",
            "-A",
            "--via",
            "storage-version-migration",
            "--kubeconfig",
        ])
        .arg(&cp.kubeconfig)
        .args(["--time", time])
        .output()
        .unwrap();
    refused_saying(&out, "does not serve storagemigration.k8s.io/v1beta1");

    let report = rewrite(&[]);
    eprintln!("throttled rewrite: {report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert_eq!(report["patched"], THROTTLED_SECRETS as u64, "{report}");
    let throttled = report["throttled"].as_u64().unwrap();
    assert!(throttled > 0, "the apiserver throttled: {report}");
    assert!(
        report["retries"].as_u64().unwrap() >= throttled,
        "every 429 was retried: {report}"
    );
    assert!(
        report["finalConcurrency"].as_u64().unwrap() < 8,
        "backed off below the initial window of 8: {report}"
    );
    assert_eq!(report["apf"]["flowSchemaUid"], flow_schema.as_str());
    assert_eq!(annotated(&client, time).await, THROTTLED_SECRETS);
    assert_eq!(all_data(&client, &ns).await, before, "Secret data changed");
}
