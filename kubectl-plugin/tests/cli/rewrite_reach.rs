//! `rewrite` reads from the apiserver's `/metrics` what it can move, against loopback stand-ins
//! for apiservers that answer only `/metrics`, the Secret listing and 404 to everything else: a
//! KMS v1 dry run counts one Encrypt per Secret without `--kms-api` and a v1 stale-only rewrite
//! (which would write nothing) is refused; a constant key_id is refused
//! with the golden explanation; with two apiservers, one still on the old key_id is named. The
//! real control plane proves the same in `e2e/tests/rotation_reach.rs`.

use secretkms_core::apiserver_metrics::id_hash;
use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, SeedKey,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

const V2: &str = "k8s:enc:kms:v2:secretkms:";
const V1: &str = "k8s:enc:kms:v1:secretkms-v1:";
const CMK: &str = "key-cnst0000000000000001";

/// Metrics of one apiserver that started at `started` and wrote Secrets under `prefix`, its
/// plugin last reporting `key_id` (KMS v2).
fn metrics(apiserver: &str, started: f64, prefix: &str, key_id: Option<&str>) -> String {
    let mut text = format!(
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds {started:e}\n\
         apiserver_storage_transformation_operations_total{{resource=\"secrets\",status=\"OK\",transformation_type=\"to_storage\",transformer_prefix=\"{prefix}\"}} 4\n"
    );
    if let Some(key_id) = key_id {
        text.push_str(&format!(
            "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{{apiserver_id_hash=\"{}\",key_id_hash=\"{}\",provider_name=\"secretkms\"}} 1.7e+09\n",
            id_hash(apiserver),
            id_hash(key_id)
        ));
    }
    text
}

/// A loopback stand-in for an apiserver; returns its URL.
async fn apiserver(metrics: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head);
                let path = head.split_whitespace().nth(1).unwrap_or_default();
                let (status, body) = if path == "/metrics" {
                    ("200 OK", metrics)
                } else if head.starts_with("GET ") && path.starts_with("/api/v1/secrets") {
                    let item = |name: &str| {
                        serde_json::json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
                            "metadata": {"name": name, "namespace": "default"}})
                    };
                    let list = serde_json::json!({"apiVersion": "meta.k8s.io/v1",
                        "kind": "PartialObjectMetadataList", "metadata": {},
                        "items": [item("a"), item("b")]});
                    ("200 OK", list.to_string())
                } else {
                    let status = serde_json::json!({"kind": "Status", "apiVersion": "v1",
                        "status": "Failure", "reason": "NotFound", "code": 404,
                        "message": format!("{path} not found")});
                    ("404 Not Found", status.to_string())
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    url
}

/// A kubeconfig naming `url`, in `dir`.
fn kubeconfig(dir: &Path, url: &str) -> String {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
             users:\n- name: u\n  user:\n    token: fake\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\n\
             current-context: c\n"
        ),
    )
    .unwrap();
    path.display().to_string()
}

async fn rewrite(kubeconfig: &str, args: &[&str], emulator: Option<&str>) -> Output {
    let mut all = vec![
        "rewrite",
        "-A",
        "--time",
        "20260101-000000",
        "--kubeconfig",
        kubeconfig,
    ];
    all.extend_from_slice(args);
    if let Some(url) = emulator {
        all.extend_from_slice(&["--kms-endpoint", url]);
    }
    let mut cmd = tokio::process::Command::from(cmd(&all));
    cmd.env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    cmd.output().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kms_v1_dry_run_counts_one_encrypt_per_secret_from_the_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let url = apiserver(metrics("a", 1e9, V1, None)).await;
    let out = rewrite(
        &kubeconfig(dir.path(), &url),
        &["--dry-run", "-o", "json"],
        None,
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["wouldPatch"], 2, "{report}");
    assert_eq!(report["kms"]["kmsApi"], "v1", "{report}");
    assert_eq!(report["kms"]["calls"], 2, "{report}");
    assert_eq!(report["rotation"]["layout"], "kmsV1", "{report}");
    assert_eq!(report["rotation"]["moves"], "yes", "{report}");

    let kc = kubeconfig(dir.path(), &url);
    let out = rewrite(&kc, &["--mode", "stale-only"], None).await;
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--mode stale-only writes nothing"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_constant_key_id_is_refused_unless_forced() {
    let kms = secretkms_kms_emulator::start(EmulatorConfig {
        region: "cn-hangzhou".into(),
        seed_keys: vec![format!("id={CMK}").parse::<SeedKey>().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Started long before the rotation: its seed is still wrapped by the old version.
    let url = apiserver(metrics("a", 1e9, V2, Some(CMK))).await;
    let kc = kubeconfig(dir.path(), &url);
    let key = ["--key", CMK, "--region", "cn-hangzhou"];
    let out = rewrite(&kc, &key, Some(&kms.url)).await;
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    golden("error-rewrite-constant-key-id.txt", &stderr(&out));

    let mut forced = key.to_vec();
    forced.extend_from_slice(&["--force", "-o", "json"]);
    let out = rewrite(&kc, &forced, Some(&kms.url)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--force: annotating only"),
        "{}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rotation"]["layout"], "kmsV2Constant", "{report}");
    assert_eq!(report["rotation"]["rewritten"], "annotatedOnly", "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_apiserver_must_report_the_expected_key_id() {
    let dir = tempfile::tempdir().unwrap();
    let first = apiserver(metrics("a", 1e9, V2, Some("key-1/v2"))).await;
    let second = apiserver(metrics("b", 1e9, V2, Some("key-1/v1"))).await;
    let kc = kubeconfig(dir.path(), &first);
    let out = rewrite(
        &kc,
        &["--expect-key-id", "key-1/v2", "--apiserver", &second],
        None,
    )
    .await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("2 apiservers seen, 1 report the current key_id"),
        "{err}"
    );
    assert!(err.contains("re-run afterwards, or pass --wait"), "{err}");

    let out = rewrite(&kc, &["--expect-key-id", "key-1/v2"], None).await;
    let err = stderr(&out);
    assert!(
        err.contains("1 apiserver seen, all report the current key_id"),
        "through one URL only the first is seen, and the count says so: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dry_run_prices_kms_calls_at_alibaba_clouds_price_for_the_key() {
    let kms = secretkms_kms_emulator::start(EmulatorConfig {
        region: "cn-hangzhou".into(),
        seed_keys: vec![format!("id={CMK}").parse::<SeedKey>().unwrap()],
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = apiserver(metrics("a", 1e9, V1, None)).await;
    let kc = kubeconfig(dir.path(), &url);
    let key = ["--dry-run", "--key", CMK, "--region", "cn-hangzhou"];
    let out = rewrite(&kc, &key, Some(&kms.url)).await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // Two Secrets, one Encrypt each with KMS v1: 2 / 10,000 × 0.08.
    assert!(
        text.contains("  cost              0.0000 USD at 0.08 USD per 10,000 calls\n"),
        "{text}"
    );
    assert!(
        text.contains("  price             KMS 1.0 basic key (Aliyun_AES_256), Chinese mainland region cn-hangzhou (https://"),
        "{text}"
    );

    let mut json = key.to_vec();
    json.extend_from_slice(&["--price-per-10k", "0.5", "-o", "json"]);
    let out = rewrite(&kc, &json, Some(&kms.url)).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["kms"]["price"]["basis"], "--price-per-10k",
        "{report}"
    );
    assert_eq!(report["kms"]["cost"], 2.0 / 10_000.0 * 0.5, "{report}");

    // Without KMS (--time, no key) nothing tells the price: the report says what to pass.
    let out = rewrite(&kc, &["--dry-run", "-o", "json"], None).await;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["kms"]["cost"].is_null(), "{report}");
    assert!(
        report["kms"]["unpriced"]
            .as_str()
            .is_some_and(|w| w.contains("pass --price-per-10k")),
        "{report}"
    );
}
