//! The real binary over TLS: protocol versions, certificate reload without restart, client
//! certificates, configuration from the environment, and a clean SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{HEALTHY, Pki, review};

const BIN: &str = env!("CARGO_BIN_EXE_secretkms-webhook");

struct Running {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    crate::loopback_port::unused_loopback_port().unwrap()
}

/// Writes cert/key/state into a temp dir and starts the binary; `env` holds extra environment.
fn start(pki: &Pki, extra: &[&str], env: &[(&str, String)], use_env_for_files: bool) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.leaf("webhook", &["127.0.0.1"]);
    install_pair(dir.path(), &cert, &key);
    std::fs::write(dir.path().join("state.json"), HEALTHY).unwrap();
    let port = free_port();
    let mut cmd = Command::new(BIN);
    let files = [
        ("SECRETKMS_TLS_CERT_FILE", dir.path().join("tls.crt")),
        ("SECRETKMS_TLS_KEY_FILE", dir.path().join("tls.key")),
        ("SECRETKMS_STATE_FILE", dir.path().join("state.json")),
    ];
    if use_env_for_files {
        cmd.envs(files.iter().map(|(k, v)| (k.to_string(), v.clone())));
        cmd.env("SECRETKMS_LISTEN", format!("127.0.0.1:{port}"));
        cmd.env("SECRETKMS_ALLOW_WEAKENING", "state-file");
    } else {
        cmd.arg(format!("--listen=127.0.0.1:{port}"));
        for (flag, (_, path)) in ["--tls-cert-file", "--tls-key-file", "--state-file"]
            .iter()
            .zip(&files)
        {
            cmd.arg(format!("{flag}={}", path.display()));
        }
        cmd.arg("--allow-weakening=state-file");
    }
    if !extra.iter().any(|a| a.starts_with("--metrics-listen")) {
        cmd.arg("--metrics-listen=off");
    }
    cmd.args([
        "--apiserver-probe=false",
        "--watch-secret-encryption=false",
        "--status-writeback=false",
        "--cert-reload-interval=200ms",
    ])
    .arg(format!(
        "--policy-cache-dir={}",
        std::env::temp_dir()
            .join("secretkms-webhook-tests-policy-cache")
            .display()
    ))
    .args(extra)
    .envs(env.iter().map(|(k, v)| (k.to_string(), v.clone())))
    .stdout(Stdio::null())
    .stderr(Stdio::from(
        std::fs::File::create(dir.path().join("log")).unwrap(),
    ));
    let child = cmd.spawn().unwrap();
    let running = Running { child, port, dir };
    wait_listening(port, &running);
    running
}

/// Kubelet's way of updating a mounted Secret: a new directory and a symlink swap.
fn install_pair(dir: &Path, cert: &str, key: &str) {
    let generation = dir.join(format!(
        "..{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir(&generation).unwrap();
    std::fs::write(generation.join("tls.crt"), cert).unwrap();
    std::fs::write(generation.join("tls.key"), key).unwrap();
    let tmp = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&generation, &tmp).unwrap();
    std::fs::rename(&tmp, dir.join("..data")).unwrap();
    for f in ["tls.crt", "tls.key"] {
        let link = dir.join(f);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(PathBuf::from("..data").join(f), &link).unwrap();
        }
    }
}

fn wait_listening(port: u16, running: &Running) {
    let since = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        let log = std::fs::read_to_string(running.dir.path().join("log")).unwrap_or_default();
        assert!(
            since.elapsed() < Duration::from_secs(20),
            "webhook did not listen:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn client(ca: &str, identity: Option<(String, String)>, max_tls12: bool) -> reqwest::Client {
    secretkms_alibaba::install_crypto_provider();
    let mut b = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
        .tls_info(true);
    if let Some((cert, key)) = identity {
        b = b.identity(reqwest::Identity::from_pem(format!("{cert}\n{key}").as_bytes()).unwrap());
    }
    if max_tls12 {
        b = b.tls_version_max(reqwest::tls::Version::TLS_1_2);
    }
    b.build().unwrap()
}

async fn validate(client: &reqwest::Client, port: u16) -> reqwest::Result<reqwest::Response> {
    client
        .post(format!("https://127.0.0.1:{port}/validate"))
        .header("content-type", "application/json")
        .body(review("tls", false))
        .send()
        .await
}

#[tokio::test]
async fn serves_tls_1_3_and_1_2_and_answers_reviews() {
    let pki = Pki::new("ca");
    let w = start(&pki, &[], &[], false);
    for tls12 in [false, true] {
        let resp = validate(&client(&pki.ca, None, tls12), w.port)
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let json: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(json["response"]["uid"], "tls");
    }
}

#[tokio::test]
async fn an_accepted_weakening_shows_in_readyz() {
    let pki = Pki::new("ca");
    let w = start(&pki, &[], &[], false);
    let resp = client(&pki.ca, None, false)
        .get(format!("https://127.0.0.1:{}/readyz", w.port))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "a weakened guard is still ready");
    let body = resp.text().await.unwrap();
    let state = w.dir.path().join("state.json");
    assert_eq!(
        body,
        format!(
            "ok\nweakened: state file {} overrides the live sources it sets",
            state.display()
        )
    );
}

#[test]
fn refuses_tls_1_1() {
    let pki = Pki::new("ca");
    let w = start(&pki, &[], &[], false);
    // SECLEVEL=0 lets this openssl client offer TLS 1.1 at all; the 1.2 handshake is the control
    // that proves the client works against this server.
    let handshake = |version: &str| {
        Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &format!("127.0.0.1:{}", w.port),
                version,
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ])
            .stdin(Stdio::null())
            .output()
    };
    let Ok(tls12) = handshake("-tls1_2") else {
        eprintln!("openssl is not installed: TLS 1.1 refusal not checked here");
        return;
    };
    assert!(
        tls12.status.success(),
        "TLS 1.2 handshake: {}",
        String::from_utf8_lossy(&tls12.stderr)
    );
    let tls11 = handshake("-tls1_1").unwrap();
    assert!(!tls11.status.success(), "a TLS 1.1 handshake must fail");
}

#[tokio::test]
async fn reloads_a_rotated_certificate_without_restart() {
    let old = Pki::new("old-ca");
    let w = start(&old, &[], &[], false);
    let new = Pki::new("new-ca");
    assert!(
        validate(&client(&new.ca, None, false), w.port)
            .await
            .is_err(),
        "not yet trusted under the new CA"
    );
    let (cert, key) = new.leaf("webhook", &["127.0.0.1"]);
    install_pair(w.dir.path(), &cert, &key);
    let since = Instant::now();
    loop {
        // A fresh client per attempt: a new connection, a new handshake.
        if let Ok(r) = validate(&client(&new.ca, None, false), w.port).await {
            assert_eq!(r.status(), 200);
            break;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "the new certificate was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn steady_load_loses_no_review_across_certificate_rotations() {
    // As cert-manager renews: a new leaf from the same CA, swapped in as a Secret volume does,
    // while clients keep sending reviews on kept-alive connections and on new ones.
    let pki = Pki::new("ca");
    let w = start(&pki, &[], &[], false);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..4)
        .map(|i| {
            let (stop, ca, port) = (stop.clone(), pki.ca.clone(), w.port);
            tokio::spawn(async move {
                let (mut ok, mut failed) = (0u32, Vec::new());
                let mut kept = client(&ca, None, false);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Half the senders open a new connection (a new handshake) every time.
                    if i % 2 == 1 {
                        kept = client(&ca, None, false);
                    }
                    match validate(&kept, port).await {
                        Ok(r) if r.status() == 200 => ok += 1,
                        Ok(r) => failed.push(format!("HTTP {}", r.status())),
                        Err(e) => failed.push(e.to_string()),
                    }
                }
                (ok, failed)
            })
        })
        .collect();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let (cert, key) = pki.leaf("webhook", &["127.0.0.1"]);
        install_pair(w.dir.path(), &cert, &key);
    }
    // The reload interval is 200 ms: the last rotation is picked up and served for a while.
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for s in senders {
        let (o, f) = s.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    eprintln!(
        "{ok} reviews answered across 3 rotations, {} failed",
        failed.len()
    );
    assert!(ok > 0);
    assert!(failed.is_empty(), "lost reviews: {failed:?}");
    let log = std::fs::read_to_string(w.dir.path().join("log")).unwrap();
    assert!(
        log.matches("serving certificate reloaded").count() >= 3,
        "the rotations were picked up:\n{log}"
    );
}

#[tokio::test]
async fn keeps_the_old_certificate_when_the_new_files_are_broken() {
    let pki = Pki::new("ca");
    let w = start(&pki, &[], &[], false);
    install_pair(
        w.dir.path(),
        "-----BEGIN CERTIFICATE-----\nbroken\n",
        "not a key",
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        validate(&client(&pki.ca, None, false), w.port)
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn requires_a_client_certificate_when_a_client_ca_is_set() {
    let pki = Pki::new("ca");
    let clients = Pki::new("apiserver-clients");
    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &clients.ca).unwrap();
    let w = start(
        &pki,
        &[&format!("--client-ca-file={}", ca_file.path().display())],
        &[],
        false,
    );
    assert!(
        validate(&client(&pki.ca, None, false), w.port)
            .await
            .is_err(),
        "no client certificate"
    );
    let stranger = Pki::new("other").leaf("intruder", &[]);
    assert!(
        validate(&client(&pki.ca, Some(stranger), false), w.port)
            .await
            .is_err(),
        "untrusted client certificate"
    );
    let apiserver = clients.leaf("kube-apiserver", &[]);
    assert_eq!(
        validate(&client(&pki.ca, Some(apiserver), false), w.port)
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn every_flag_can_come_from_the_environment() {
    let pki = Pki::new("ca");
    let w = start(
        &pki,
        &[],
        &[("SECRETKMS_MAX_BODY_BYTES", "1024".into())],
        true,
    );
    let resp = validate(&client(&pki.ca, None, false), w.port)
        .await
        .unwrap();
    assert_eq!(resp.status(), 413, "SECRETKMS_MAX_BODY_BYTES applies");
}

#[test]
fn refuses_to_start_with_a_key_that_does_not_match() {
    let pki = Pki::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let (cert, _) = pki.leaf("webhook", &["127.0.0.1"]);
    let (_, other_key) = pki.leaf("other", &["127.0.0.1"]);
    std::fs::write(dir.path().join("c"), cert).unwrap();
    std::fs::write(dir.path().join("k"), other_key).unwrap();
    let out = Command::new(BIN)
        .arg(format!(
            "--tls-cert-file={}",
            dir.path().join("c").display()
        ))
        .arg(format!("--tls-key-file={}", dir.path().join("k").display()))
        .args([
            "--listen=127.0.0.1:0",
            "--metrics-listen=off",
            "--apiserver-probe=false",
            "--watch-secret-encryption=false",
            "--status-writeback=false",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("does not belong to the certificate"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_stops_cleanly() {
    let pki = Pki::new("ca");
    let mut w = start(&pki, &["--shutdown-grace=2s"], &[], false);
    assert_eq!(
        validate(&client(&pki.ca, None, false), w.port)
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = w.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let since = Instant::now();
    let status = loop {
        if let Some(s) = w.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "still running after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status}");
}

/// Reads until the server closes the connection (EOF or reset), for at most `within`; false if
/// it is still open then.
async fn closed_by_the_server(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            // hyper may answer 408 before closing; keep reading to the close.
            Ok(Ok(_)) => {}
        }
    }
}

async fn connect(port: u16) -> tokio::net::TcpStream {
    tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap()
}

#[tokio::test]
async fn slow_clients_are_cut_off_on_both_ports_while_others_are_served() {
    use tokio::io::AsyncWriteExt as _;
    let pki = Pki::new("ca");
    let metrics = free_port();
    let w = start(
        &pki,
        &[
            "--header-read-timeout=1s",
            &format!("--metrics-listen=127.0.0.1:{metrics}"),
        ],
        &[],
        false,
    );
    // Plain HTTP: headers begun and never finished.
    let mut slow_headers = connect(metrics).await;
    slow_headers
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // TLS: a connection that never says hello (axum-server's 10 s handshake timeout).
    let mut silent = connect(w.port).await;

    let c = client(&pki.ca, None, false);
    for _ in 0..3 {
        let resp = validate(&c, w.port).await.unwrap();
        assert_eq!(resp.status(), 200, "others are served meanwhile");
    }
    assert!(
        closed_by_the_server(&mut slow_headers, Duration::from_secs(10)).await,
        "a client that does not finish its headers is cut off"
    );
    assert!(
        closed_by_the_server(&mut silent, Duration::from_secs(20)).await,
        "a client that never completes the TLS handshake is cut off"
    );
    let resp = validate(&c, w.port).await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn connections_beyond_the_cap_are_closed_and_counted() {
    let pki = Pki::new("ca");
    let metrics = free_port();
    let _w = start(
        &pki,
        &[
            "--max-connections=2",
            &format!("--metrics-listen=127.0.0.1:{metrics}"),
        ],
        &[],
        false,
    );
    let wait = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", metrics)).is_err() {
        assert!(wait.elapsed() < Duration::from_secs(20), "metrics port");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Five at once against a cap of two: at least three are closed at once (more if the
    // probing connection above still holds its place), and never more than two stay open.
    let mut held = Vec::new();
    for _ in 0..5 {
        held.push(connect(metrics).await);
    }
    let mut closed = 0;
    for stream in &mut held {
        if closed_by_the_server(stream, Duration::from_millis(1500)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= 3,
        "{closed} of 5 connections closed under a cap of 2"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    secretkms_alibaba::install_crypto_provider();
    let body = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = body
        .lines()
        .find(|l| l.starts_with("secretkms_connections_refused_total{port=\"metrics\"}"))
        .unwrap_or_else(|| panic!("{body}"));
    assert!(!refused.ends_with(" 0"), "{refused}");
}

/// The process's peak resident set (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"));
    kib * 1024
}

#[tokio::test]
async fn concurrent_maximum_size_updates_stay_within_the_charts_memory_limit() {
    // The chart's limit; the webhook plans its evaluations and bodies for it (memory_budget).
    const LIMIT: u64 = 256 << 20;
    let pki = Pki::new("ca");
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let w = start(&pki, &[], &[], false);
    let mut v: serde_json::Value = serde_json::from_str(&review("big", false)).unwrap();
    v["request"]["operation"] = "UPDATE".into();
    v["request"]["object"]["data"]["blob"] = "QUJD".repeat((1 << 20) / 3).into();
    v["request"]["oldObject"] = v["request"]["object"].clone();
    let body = v.to_string();
    assert!(body.len() > 2_700_000, "a 1 MiB Secret UPDATE");
    let c = client(&pki.ca, None, false);
    let before = peak_rss(w.child.id());
    for _round in 0..5 {
        let sends = (0..4 * cpus).map(|_| {
            c.post(format!("https://127.0.0.1:{}/validate?timeout=10s", w.port))
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
        });
        for resp in futures::future::join_all(sends).await {
            assert_eq!(resp.unwrap().status(), 200);
        }
    }
    let peak = peak_rss(w.child.id());
    eprintln!(
        "peak RSS: {} MiB before, {} MiB after {} rounds of {} concurrent {:.1} MB UPDATE reviews",
        before >> 20,
        peak >> 20,
        5,
        4 * cpus,
        body.len() as f64 / 1e6
    );
    assert!(
        peak < LIMIT,
        "peak RSS {peak} bytes is over the chart's limit of {LIMIT}"
    );
}
