//! The webhook's container image, built here by `hack/image.sh` (no base image, no daemon: a
//! static binary, the CA bundle and a passwd entry in one layer, written by umoci) and run by
//! Debian's `runc` from the unpacked bundle, the way a kubelet's runtime runs it: as uid 65532,
//! on a read-only root filesystem, with its TLS Secret and the kubelet's /etc/hosts mounted
//! read-only and an emptyDir-like writable cache. It finds the real apiserver of the shared
//! control plane by name (`localhost`, through the mounted /etc/hosts, which proves the static
//! binary's name service), becomes ready, answers `/readyz` over TLS and exits 0 on SIGTERM.
//!
//! The layout comes from `SECRETKMS_IMAGE_DIR` (hack/test.sh builds it first) or from running
//! `hack/image.sh`, which takes minutes on a cold cache (a fat-LTO build).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use secretkms_e2e::binaries::hack_script_dir;
use secretkms_e2e::process::free_ports;
use secretkms_e2e::{ControlPlane, webhook::https_client};
use serde_json::{Value, json};

const UID: u32 = 65532;

/// The OCI layout's directory and its tag.
fn image() -> &'static (PathBuf, String) {
    static IMAGE: OnceLock<(PathBuf, String)> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let dir = match std::env::var_os("SECRETKMS_IMAGE_DIR") {
            Some(dir) => PathBuf::from(dir),
            None => hack_script_dir("image.sh", &[]).unwrap_or_else(|e| panic!("{e}")),
        };
        let index = read_json(&dir.join("index.json"));
        let tag = index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
            .as_str()
            .expect("the layout's index names its tag")
            .to_string();
        (dir, tag)
    })
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().unwrap();
    let (algorithm, hex) = digest.split_once(':').unwrap();
    layout.join("blobs").join(algorithm).join(hex)
}

fn run(command: &mut Command) -> String {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} exited with {}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_image_holds_only_a_static_binary_the_ca_bundle_and_a_non_root_user() {
    let (layout, _) = image();
    let index = read_json(&layout.join("index.json"));
    let manifest = read_json(&blob(layout, &index["manifests"][0]));
    let config = read_json(&blob(layout, &manifest["config"]));
    let c = &config["config"];
    assert_eq!(c["User"], "65532:65532", "{config:#}");
    assert_eq!(c["Entrypoint"], json!(["/secretkms-webhook"]), "{config:#}");
    let ports: BTreeSet<&str> = c["ExposedPorts"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(ports, BTreeSet::from(["8443/tcp", "9090/tcp"]));
    assert_eq!(config["os"], "linux");

    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one layer, no base: {manifest:#}");
    let listing = run(Command::new("tar")
        .arg("-tvzf")
        .arg(blob(layout, &layers[0])));
    let mut files = BTreeSet::new();
    for line in listing.lines() {
        // "-rwxr-xr-x 0/0 123 2026-12-02 15:00 ./secretkms-webhook"
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (mode, owner, path) = (fields[0], fields[1], fields[fields.len() - 1]);
        let path = path.trim_start_matches("./").trim_end_matches('/');
        if mode.starts_with('d') || path.is_empty() {
            continue;
        }
        assert_eq!(
            owner, "0/0",
            "{path} is owned by root, not writable by the user"
        );
        let bytes = mode.as_bytes();
        assert!(
            bytes[5] != b'w' && bytes[8] != b'w',
            "{path} is writable by group or others: {mode}"
        );
        files.insert(path.to_string());
    }
    assert_eq!(
        files,
        BTreeSet::from(
            [
                "secretkms-webhook",
                "etc/ssl/certs/ca-certificates.crt",
                "etc/passwd",
                "etc/group"
            ]
            .map(String::from)
        ),
        "the layer holds only these files"
    );

    // The binary in the layer is the static one: no interpreter, no shared libraries.
    let root = tempfile::tempdir().unwrap();
    run(Command::new("tar")
        .arg("-xzf")
        .arg(blob(layout, &layers[0]))
        .arg("-C")
        .arg(root.path()));
    let binary = root.path().join("secretkms-webhook");
    let headers = run(Command::new("readelf").arg("-lW").arg(&binary));
    assert!(!headers.contains("INTERP"), "{headers}");
    let dynamic = run(Command::new("readelf").arg("-dW").arg(&binary));
    assert!(!dynamic.contains("NEEDED"), "{dynamic}");
    let passwd = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    assert!(
        passwd.starts_with(&format!("nonroot:x:{UID}:{UID}:")),
        "{passwd}"
    );

    let image_bytes: u64 = std::fs::read_dir(layout.join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    println!(
        "image {}: blobs {} bytes (layer {} bytes compressed), binary {} bytes",
        layout.display(),
        image_bytes,
        layers[0]["size"],
        std::fs::metadata(&binary).unwrap().len()
    );
}

/// A runc container of the image, removed when dropped.
struct Container {
    id: String,
    runc: std::process::Child,
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["kill", &self.id, "KILL"])
            .output();
        let _ = self.runc.wait();
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.id])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_image_runs_as_non_root_on_a_read_only_root_finds_the_apiserver_and_stops_on_sigterm() {
    let (layout, tag) = image();
    let cp = ControlPlane::shared();
    let dir = tempfile::tempdir_in(cp.dir()).unwrap();
    let bundle = dir.path().join("bundle");
    run(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{tag}", layout.display()))
        .arg(&bundle));

    // What the pod mounts: the TLS Secret, a kubeconfig (standing in for the service account
    // token; it names the apiserver as `localhost`, so the name must resolve inside), the
    // kubelet's /etc/hosts, and an emptyDir for the compiled policies.
    let secrets = dir.path().join("tls");
    std::fs::create_dir(&secrets).unwrap();
    let pair = cp
        .ca()
        .serving("secretkms-webhook", &["127.0.0.1", "localhost"])
        .unwrap();
    std::fs::write(secrets.join("tls.crt"), &pair.cert_pem).unwrap();
    std::fs::write(secrets.join("tls.key"), &pair.key_pem).unwrap();
    let kubeconfig = std::fs::read_to_string(&cp.kubeconfig)
        .unwrap()
        .replace("https://127.0.0.1:", "https://localhost:");
    assert!(kubeconfig.contains("https://localhost:"), "{kubeconfig}");
    std::fs::write(secrets.join("kubeconfig"), kubeconfig).unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "127.0.0.1 localhost\n").unwrap();
    let cache = dir.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    for path in [&secrets.join("tls.key"), &secrets.join("kubeconfig")] {
        // Readable by the container's user only, as a Secret volume with fsGroup would be.
        std::os::unix::fs::chown(path, Some(UID), Some(UID)).unwrap();
    }
    std::os::unix::fs::chown(&cache, Some(UID), Some(UID)).unwrap();

    let [port, metrics_port] = free_ports().unwrap();
    let config_path = bundle.join("config.json");
    let mut config = read_json(&config_path);
    assert_eq!(
        config["process"]["user"]["uid"], UID,
        "umoci maps the image's user"
    );
    config["root"]["readonly"] = json!(true);
    // The kubelet gives a container no terminal; its output goes to the log file.
    config["process"]["terminal"] = json!(false);
    config["process"]["args"] = json!([
        "/secretkms-webhook",
        format!("--listen=127.0.0.1:{port}"),
        format!("--metrics-listen=127.0.0.1:{metrics_port}"),
        "--tls-cert-file=/etc/secretkms/tls/tls.crt",
        "--tls-key-file=/etc/secretkms/tls/tls.key",
        "--kubeconfig=/etc/secretkms/tls/kubeconfig",
        "--policy-cache-dir=/var/cache/secretkms",
        "--watch-secret-encryption=false",
        "--status-writeback=false",
        "--apiserver-probe-interval=1s",
        "--shutdown-grace=5s",
    ]);
    // The host's network namespace (as a hostNetwork pod), so the test reaches the ports on
    // loopback and the webhook reaches the apiserver; pid, ipc, uts and mount stay the
    // container's own.
    let namespaces = config["linux"]["namespaces"].as_array_mut().unwrap();
    namespaces.retain(|ns| ns["type"] != "network");
    let mounts = config["mounts"].as_array_mut().unwrap();
    let bind = |source: &Path, destination: &str, writable: bool| {
        let mut options = vec!["rbind", "nosuid", "nodev", "noexec"];
        options.push(if writable { "rw" } else { "ro" });
        json!({"type": "bind", "source": source, "destination": destination, "options": options})
    };
    mounts.push(bind(&secrets, "/etc/secretkms/tls", false));
    mounts.push(bind(&hosts, "/etc/hosts", false));
    mounts.push(bind(&cache, "/var/cache/secretkms", true));
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let id = format!("secretkms-image-{}", std::process::id());
    let log_path = dir.path().join("webhook.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let pid_file = dir.path().join("pid");
    let runc = Command::new("runc")
        .arg("run")
        .arg("--bundle")
        .arg(&bundle)
        .arg("--pid-file")
        .arg(&pid_file)
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("runc (Debian: apt-get install runc)");
    let mut container = Container { id, runc };
    let log_tail = || std::fs::read_to_string(&log_path).unwrap_or_default();

    // Ready means a source answered: here only the apiserver probe, through the name.
    let http = https_client(&cp.ca().cert_pem()).unwrap();
    let url = format!("https://127.0.0.1:{port}/readyz");
    let since = Instant::now();
    let body = loop {
        if let Some(status) = container.runc.try_wait().unwrap() {
            panic!("the container exited with {status}: {}", log_tail());
        }
        if let Ok(r) = http.get(&url).send().await
            && r.status().is_success()
        {
            break r.text().await.unwrap();
        }
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "not ready after 60 s: {}",
            log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("ready in {:?}: {body}", since.elapsed());

    let pid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for key in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find(|l| l.starts_with(key))
            .unwrap()
            .split_whitespace()
            .skip(1)
            .collect();
        assert_eq!(ids, vec!["65532"; 4], "{key} of the webhook");
    }
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_mount = mountinfo
        .lines()
        .find(|l| l.split_whitespace().nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no root mount: {mountinfo}"));
    let options = root_mount.split_whitespace().nth(5).unwrap();
    assert!(
        options.split(',').any(|o| o == "ro"),
        "the root filesystem is read-only: {root_mount}"
    );
    // The policies were compiled into the writable cache, nowhere else.
    assert!(
        std::fs::read_dir(&cache).unwrap().next().is_some(),
        "the policy cache is empty: {}",
        log_tail()
    );

    run(Command::new("runc").args(["kill", &container.id, "TERM"]));
    let since = Instant::now();
    let exit = loop {
        if let Some(status) = container.runc.try_wait().unwrap() {
            break status;
        }
        assert!(
            since.elapsed() < Duration::from_secs(15),
            "still running 15 s after SIGTERM: {}",
            log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = log_tail();
    assert!(exit.success(), "exited with {exit} after SIGTERM: {log}");
    assert!(!log.contains("panicked"), "{log}");
    println!("stopped {:?} after SIGTERM", since.elapsed());
}
