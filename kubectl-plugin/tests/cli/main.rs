//! Runs the real `kubectl-secretkms` binary (as ripgrep's tests do) against golden output, the
//! shipped policy cases and the KMS emulator. Cluster-facing commands are proven in
//! `e2e/tests/plugin.rs` on a real control plane.

mod ack_flows;
mod basics;
mod key_check;
mod policy;
mod rewrite_reach;

use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kubectl-secretkms")
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the plugin with a clean environment: no kubeconfig, no Alibaba credentials, no colour.
pub fn cmd(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(
            "HOME",
            std::env::temp_dir().join("secretkms-plugin-test-home"),
        )
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env("NO_COLOR", "1");
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME") {
        cmd.env("XDG_CACHE_HOME", cache);
    }
    cmd
}

pub fn run(args: &[&str]) -> Output {
    cmd(args).output().expect("the plugin binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Compares with `tests/golden/<name>`; `SECRETKMS_BLESS=1` rewrites the file instead.
pub fn golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("SECRETKMS_BLESS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (SECRETKMS_BLESS=1 creates it)",
            path.display()
        )
    });
    assert_eq!(actual, expected, "output differs from {}", path.display());
}
