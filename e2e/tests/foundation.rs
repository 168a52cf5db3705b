//! The foundation, proven on the real thing: a kube-apiserver and etcd built from upstream
//! source, a Secret written through kube-rs, and its bytes read straight from etcd.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use secretkms_e2e::fixtures::{MARKER, create_secret, eventually, holds_marker};
use secretkms_e2e::{ControlPlane, Encryption, Options, repo_root};

fn pinned(var: &str) -> String {
    let script = std::fs::read_to_string(repo_root().join("hack/control-plane-bins.sh")).unwrap();
    let prefix = format!("{var}=${{{var}:-");
    let line = script
        .lines()
        .find(|l| l.starts_with(&prefix))
        .expect("version line in the script");
    line[prefix.len()..].trim_end_matches('}').to_string()
}

#[tokio::test]
async fn a_secret_round_trips_through_kube_rs() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.unwrap();
    let ns = cp.namespace(&client, "round-trip").await.unwrap();
    create_secret(&client, &ns, "app").await;
    let read = Api::<Secret>::namespaced(client, &ns)
        .get("app")
        .await
        .unwrap();
    assert_eq!(read.data.unwrap()["password"].0, MARKER.as_bytes());
}

#[tokio::test]
async fn without_encryption_etcd_holds_plain_protobuf() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.unwrap();
    let ns = cp.namespace(&client, "plaintext").await.unwrap();
    create_secret(&client, &ns, "app").await;
    let stored = cp
        .etcd()
        .get(&format!("/registry/secrets/{ns}/app"))
        .await
        .unwrap()
        .expect("key in etcd");
    assert!(
        stored.starts_with(b"k8s\0"),
        "plain Kubernetes protobuf starts with the magic k8s\\0"
    );
    assert!(
        !stored.starts_with(b"k8s:enc:"),
        "no encryption envelope expected"
    );
    assert!(
        holds_marker(&stored),
        "the value is readable in etcd without encryption"
    );
}

#[tokio::test]
async fn with_aescbc_etcd_holds_the_aescbc_envelope() {
    let cp = ControlPlane::start(Options {
        encryption: Encryption::AesCbc {
            key_name: "key1".into(),
        },
        ..Default::default()
    })
    .await
    .unwrap();
    let client = cp.client().await.unwrap();
    let ns = cp.namespace(&client, "aescbc").await.unwrap();
    create_secret(&client, &ns, "app").await;
    let stored = cp
        .etcd()
        .get(&format!("/registry/secrets/{ns}/app"))
        .await
        .unwrap()
        .expect("key in etcd");
    assert!(
        stored.starts_with(b"k8s:enc:aescbc:v1:key1:"),
        "stored: {:?}",
        &stored[..stored.len().min(40)]
    );
    assert!(
        !holds_marker(&stored),
        "the value must not be readable in etcd"
    );
    let read = Api::<Secret>::namespaced(client, &ns)
        .get("app")
        .await
        .unwrap();
    assert_eq!(
        read.data.unwrap()["password"].0,
        MARKER.as_bytes(),
        "the apiserver decrypts on read"
    );
}

#[tokio::test]
async fn version_reports_the_pinned_release() {
    let cp = ControlPlane::shared();
    let info = cp
        .client()
        .await
        .unwrap()
        .apiserver_version()
        .await
        .unwrap();
    assert_eq!(info.git_version, pinned("K8S_VERSION"));
}

#[test]
fn the_built_kubectl_works_with_the_generated_kubeconfig() {
    let cp = ControlPlane::shared();
    let out = cp
        .kubectl()
        .args(["get", "--raw", "/readyz"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
    let out = cp
        .kubectl()
        .args(["version", "-o", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["clientVersion"]["gitVersion"],
        v["serverVersion"]["gitVersion"]
    );
}

/// Fails where no kubectl is on PATH (the one a person would use); skip it there with
/// `cargo test -p secretkms-e2e --test foundation -- --skip the_installed_kubectl`.
#[test]
fn the_installed_kubectl_works_with_the_generated_kubeconfig() {
    let path = which("kubectl").unwrap_or_else(|()| {
        panic!("no kubectl on PATH: install one, or --skip this test (the built kubectl is checked by the_built_kubectl_works_with_the_generated_kubeconfig)")
    });
    let cp = ControlPlane::shared();
    let out = Command::new(path)
        .arg("--kubeconfig")
        .arg(&cp.kubeconfig)
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
}

#[tokio::test]
async fn a_failing_apiserver_is_reported_with_its_log_tail() {
    let err = ControlPlane::start(Options {
        extra_apiserver_args: vec!["--no-such-flag-for-secretkms".into()],
        ..Default::default()
    })
    .await
    .expect_err("an unknown flag must stop the apiserver");
    let msg = err.to_string();
    assert!(msg.contains("kube-apiserver exited"), "{msg}");
    assert!(
        msg.contains("no-such-flag-for-secretkms"),
        "the log tail names the cause: {msg}"
    );
}

#[tokio::test]
async fn stopping_the_control_plane_leaves_nothing_listening() {
    let cp = ControlPlane::start(Options::default()).await.unwrap();
    let api = cp.server.trim_start_matches("https://").to_string();
    let etcd = cp.etcd_endpoint().trim_start_matches("http://").to_string();
    drop(cp);
    assert!(
        std::net::TcpStream::connect(&api).is_err(),
        "apiserver still listening on {api}"
    );
    assert!(
        std::net::TcpStream::connect(&etcd).is_err(),
        "etcd still listening on {etcd}"
    );
}

#[tokio::test]
async fn a_killed_harness_leaves_no_process_behind() {
    // `secretkms-dev up` keeps a control plane until it is stopped; SIGKILL gives it no chance
    // to clean up, so only the watchdog can stop etcd and the apiserver.
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretkms-dev"))
        .arg("up")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    let mut ports = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        for prefix in ["apiserver: https://", "etcd: http://"] {
            if let Some(addr) = line.strip_prefix(prefix) {
                ports.push(addr.to_string());
            }
        }
        if ports.len() == 2 {
            break;
        }
    }
    assert_eq!(ports.len(), 2, "secretkms-dev printed both endpoints");
    child.kill().unwrap();
    child.wait().unwrap();
    eventually(
        "nothing listening after the harness died",
        Duration::from_secs(20),
        || async {
            match ports
                .iter()
                .find(|a| std::net::TcpStream::connect(a).is_ok())
            {
                Some(a) => Err(format!("{a} still accepts connections")),
                None => Ok(()),
            }
        },
    )
    .await;
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
