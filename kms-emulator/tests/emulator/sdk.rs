//! The official Alibaba Cloud Python SDKs as independent clients of the emulator binary: the Tea
//! SDK (alibabacloud-kms20160120) with its default V3 signature and with `signature_algorithm='v2'`,
//! and the legacy aliyun-python-sdk-kms (HMAC-SHA1 RPC). `hack/python-sdk.sh` installs them; set
//! `SECRETKMS_SKIP_SDK_TESTS=1` only on machines that cannot reach PyPI.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::cli::spawn;
use super::*;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The venv python, installing the SDKs on first use.
fn python() -> Option<PathBuf> {
    if std::env::var("SECRETKMS_SKIP_SDK_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SECRETKMS_SKIP_SDK_TESTS=1: not running the official SDK checks");
        return None;
    }
    // hack/test.sh installs the SDKs once and exports the interpreter.
    if let Some(path) = std::env::var_os("SECRETKMS_SDK_PYTHON")
        .map(PathBuf::from)
        .filter(|p| p.exists())
    {
        return Some(path);
    }
    let output = Command::new("bash")
        .arg(repo_root().join("hack/python-sdk.sh"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hack/python-sdk.sh failed (set SECRETKMS_SKIP_SDK_TESTS=1 only where PyPI is unreachable): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_string();
    Some(PathBuf::from(path))
}

fn run(python: &PathBuf, script: &str, args: &[&str]) -> Value {
    let output = Command::new(python)
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("tests/sdk")
                .join(script),
        )
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn error(code: &str, status: u16) -> Value {
    serde_json::json!({ "code": code, "status": status })
}

#[test]
fn official_python_sdks_drive_the_emulator() {
    let Some(python) = python() else { return };
    let emu = spawn(&[]);
    let endpoint = emu.url.trim_start_matches("http://").to_string();

    for algorithm in ["v3", "v2"] {
        let out = run(
            &python,
            "tea_sdk.py",
            &[
                &endpoint,
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_ACCESS_KEY_SECRET,
                algorithm,
            ],
        );
        assert_eq!(out["algorithm"], algorithm);
        assert_eq!(out["created_state"], "Enabled", "{out}");
        assert_eq!(out["described_key_id_matches"], true, "{out}");
        assert_eq!(out["described_spec"], "Aliyun_AES_256", "{out}");
        assert!(
            out["described_arn"]
                .as_str()
                .unwrap()
                .starts_with("acs:kms:cn-hangzhou:"),
            "{out}"
        );
        assert_eq!(out["round_trip"], true, "{out}");
        assert_eq!(out["version_matches"], true, "{out}");
        assert_eq!(out["version_count"], 1, "{out}");
        assert_eq!(out["disabled_state"], "Disabled", "{out}");
        assert_eq!(
            out["encrypt_disabled"],
            error("Rejected.Disabled", 409),
            "{out}"
        );
        assert_eq!(out["pending_state"], "PendingDeletion", "{out}");
        assert!(
            out["pending_delete_date"]
                .as_str()
                .is_some_and(|d| d.ends_with('Z')),
            "{out}"
        );
        assert_eq!(
            out["missing_key"],
            error("Forbidden.KeyNotFound", 404),
            "{out}"
        );
        assert_eq!(
            out["wrong_secret"],
            error("SignatureDoesNotMatch", 400),
            "{out}"
        );
    }

    let out = run(
        &python,
        "legacy_sdk.py",
        &[&endpoint, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET],
    );
    assert_eq!(out["described_state"], "Enabled", "{out}");
    assert_eq!(out["described_spec"], "Aliyun_AES_256", "{out}");
    assert_eq!(out["round_trip"], true, "{out}");
    assert_eq!(
        out["encrypt_disabled"],
        error("Rejected.Disabled", 409),
        "{out}"
    );
    assert_eq!(
        out["missing_key"],
        error("Forbidden.KeyNotFound", 404),
        "{out}"
    );
    // The legacy SDK recognises the server's string-to-sign as its own and names the secret.
    assert_eq!(
        out["wrong_secret"],
        error("InvalidAccessKeySecret", 400),
        "{out}"
    );
}
