//! Start-up errors as an operator sees them: exit code 1 and one line that carries every cause
//! once; and the off-switches that are refused unless `--allow-weakening` names them.

use std::process::Command;

use crate::support::Pki;

const BIN: &str = env!("CARGO_BIN_EXE_secretkms-webhook");

/// Runs the binary with TLS files in `dir` plus `args`: `Err(line)` with the error line when it
/// exits with 1, `Ok(())` once it listens. Compiling the policies without a cache takes seconds
/// in a debug build, hence the generous bound.
fn start(dir: &std::path::Path, args: &[String]) -> Result<(), String> {
    use std::time::{Duration, Instant};
    let pki = Pki::new("ca");
    let (cert, key) = pki.leaf("webhook", &["127.0.0.1"]);
    std::fs::write(dir.join("tls.crt"), cert).unwrap();
    std::fs::write(dir.join("tls.key"), key).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .arg(format!("--tls-cert-file={}", dir.join("tls.crt").display()))
        .arg(format!("--tls-key-file={}", dir.join("tls.key").display()))
        .arg(format!("--listen=127.0.0.1:{port}"))
        .args([
            "--metrics-listen=off",
            "--policy-cache-dir=off",
            "--apiserver-probe=false",
            "--watch-secret-encryption=false",
            "--status-writeback=false",
        ])
        .args(args)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert_eq!(status.code(), Some(1), "{stderr}");
            return Err(stderr
                .lines()
                .find(|l| l.starts_with("secretkms-webhook: "))
                .unwrap_or_else(|| panic!("no error line: {stderr}"))
                .to_string());
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("neither refused nor listening after 120 s");
}

#[test]
fn off_switches_are_refused_unless_named() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.json");
    std::fs::write(&state, crate::support::HEALTHY).unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "policies: []\n").unwrap();
    let state_arg = format!("--state-file={}", state.display());
    let empty_arg = format!("--policy-config={}", empty.display());

    let line = start(dir.path(), std::slice::from_ref(&state_arg)).unwrap_err();
    assert!(
        line.contains("state file") && line.contains("--allow-weakening=state-file"),
        "{line}"
    );
    let line = start(
        dir.path(),
        &[empty_arg.clone(), "--allow-weakening=state-file".into()],
    )
    .unwrap_err();
    assert!(
        line.contains("every review is allowed")
            && line.contains("--allow-weakening=unguarded-secret-writes"),
        "{line}"
    );
    start(
        dir.path(),
        &[
            state_arg,
            empty_arg,
            "--allow-weakening=state-file,unguarded-secret-writes".into(),
        ],
    )
    .expect("both named: it starts and listens");
}

#[test]
fn a_policy_that_cannot_be_read_is_reported_with_its_os_error_once() {
    let pki = Pki::new("ca");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = pki.leaf("webhook", &["127.0.0.1"]);
    let file = |name: &str| dir.path().join(name);
    std::fs::write(file("tls.crt"), cert).unwrap();
    std::fs::write(file("tls.key"), key).unwrap();
    std::fs::write(
        file("policies.yaml"),
        "policies:\n- name: absent\n  source: missing.wasm\n  rules: [{apiGroups: [''], apiVersions: [v1], resources: [secrets], operations: [CREATE]}]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .arg(format!("--tls-cert-file={}", file("tls.crt").display()))
        .arg(format!("--tls-key-file={}", file("tls.key").display()))
        .arg(format!(
            "--policy-config={}",
            file("policies.yaml").display()
        ))
        .args([
            "--listen=127.0.0.1:0",
            "--metrics-listen=off",
            "--policy-cache-dir=off",
            "--apiserver-probe=false",
            "--watch-secret-encryption=false",
            "--status-writeback=false",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("secretkms-webhook: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.contains("loading the policies of ")
            && line.contains("policies.yaml: policy absent: cannot read source ")
            && line.contains("missing.wasm: "),
        "{line}"
    );
    // The OS error used to be dropped (`anyhow!("{e}")` kept only the message).
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
}
