//! Start-up errors as an operator sees them: exit code 1 and one line that carries every cause
//! once.

use std::process::Command;

use crate::support::Pki;

const BIN: &str = env!("CARGO_BIN_EXE_secretkms-webhook");

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
