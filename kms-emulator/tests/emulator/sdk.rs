//! The official Alibaba Cloud Python SDKs as independent clients of the emulator binary: the Tea
//! SDK (alibabacloud-kms20160120) with its default V3 signature and with `signature_algorithm='v2'`,
//! and the legacy aliyun-python-sdk-kms (HMAC-SHA1 RPC); and the STS, RAM, ActionTrail, BSS and CS
//! (ACK) Tea SDKs against the emulator's local-cloud APIs, with both signature versions. `hack/python-sdk.sh` installs them and
//! `hack/test.sh` exports the interpreter as `SECRETKMS_SDK_PYTHON`. Without the SDKs the test
//! fails, never passes: on a machine that cannot reach PyPI, leave it out by name with
//! `cargo test -p secretkms-kms-emulator --test emulator -- --skip sdk::`.

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

/// How to run the other emulator tests where the SDKs cannot be installed.
const WITHOUT_SDKS: &str = "to run the other emulator tests without them: cargo test -p secretkms-kms-emulator --test emulator -- --skip sdk::";

/// The python with the official SDKs: `SECRETKMS_SDK_PYTHON` when set (it must import them),
/// otherwise the one `hack/python-sdk.sh` installs (needs PyPI on first use).
fn python() -> PathBuf {
    if let Some(path) = std::env::var_os("SECRETKMS_SDK_PYTHON").map(PathBuf::from) {
        let imports = Command::new(&path)
            .args([
                "-c",
                "import alibabacloud_kms20160120.client, aliyunsdkkms.request.v20160120.DescribeKeyRequest, \
                 alibabacloud_sts20150401.client, alibabacloud_ram20150501.client, \
                 alibabacloud_actiontrail20200706.client, alibabacloud_bssopenapi20171214.client, \
                 alibabacloud_cs20151215.client",
            ])
            .output();
        match imports {
            Ok(out) if out.status.success() => return path,
            Ok(out) => panic!(
                "SECRETKMS_SDK_PYTHON={} cannot import the Alibaba Cloud SDKs (point it at the output of hack/python-sdk.sh; {WITHOUT_SDKS}):\n{}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            ),
            Err(e) => panic!(
                "SECRETKMS_SDK_PYTHON={} cannot be run: {e} (point it at the output of hack/python-sdk.sh; {WITHOUT_SDKS})",
                path.display()
            ),
        }
    }
    let output = Command::new("bash")
        .arg(repo_root().join("hack/python-sdk.sh"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "hack/python-sdk.sh could not install the Alibaba Cloud SDKs ({WITHOUT_SDKS}):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .lines()
        .last()
        .unwrap()
        .to_string();
    PathBuf::from(path)
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
    let python = python();
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

#[test]
fn official_python_sdks_drive_the_local_cloud() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    // The v2 run reads its account from a file: the configured AccessKey belongs to user `ops`.
    let account_file = dir.path().join("account.json");
    std::fs::write(
        &account_file,
        serde_json::json!({
            "users": [{
                "name": "ops",
                "access_keys": [{"id": DEFAULT_ACCESS_KEY_ID, "secret": DEFAULT_ACCESS_KEY_SECRET}],
                "policies": ["AliyunKMSCryptoAdminAccess", "ops-custom"],
            }],
            "balance": {"available_amount": "12.34", "currency": "USD"},
        })
        .to_string(),
    )
    .unwrap();
    let account_file = account_file.to_str().unwrap();
    for (algorithm, args, user, balance) in [
        ("v3", vec![], "secretkms-emulator", ("10000.00", "CNY")),
        (
            "v2",
            vec!["--account-file", account_file],
            "ops",
            ("12.34", "USD"),
        ),
    ] {
        let mut args = args;
        args.extend(["--seed-key", "alias=sdk-cloud"]);
        let emu = spawn(&args);
        let endpoint = emu.url.trim_start_matches("http://").to_string();
        let out = run(
            &python,
            "cloud_sdk.py",
            &[
                &endpoint,
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_ACCESS_KEY_SECRET,
                algorithm,
                "alias/sdk-cloud",
            ],
        );
        assert_eq!(out["algorithm"], algorithm);
        assert_eq!(
            out["identity"],
            serde_json::json!({
                "arn": format!("acs:ram::1234567890123456:user/{user}"),
                "type": "RAMUser",
                "account": "1234567890123456",
            }),
            "{out}"
        );
        assert_eq!(out["role"]["name"], "AliyunCSManagedSecurityRole", "{out}");
        assert_eq!(
            out["role_policies"],
            serde_json::json!(["AliyunCSManagedSecurityRolePolicy"]),
            "{out}"
        );
        assert_eq!(
            out["user_policies"][0],
            serde_json::json!(["AliyunKMSCryptoAdminAccess", "System"]),
            "{out}"
        );
        if user == "ops" {
            assert_eq!(
                out["user_policies"][1],
                serde_json::json!(["ops-custom", "Custom"]),
                "{out}"
            );
        }
        assert_eq!(
            out["missing_role"],
            error("EntityNotExist.Role", 404),
            "{out}"
        );
        assert_eq!(
            out["balance"],
            serde_json::json!({"success": true, "available": balance.0, "currency": balance.1}),
            "{out}"
        );
        // The Encrypt just made through the KMS SDK, found by its request id.
        assert_eq!(out["encrypt_event"]["found"], 1, "{out}");
        assert_eq!(out["encrypt_event"]["user"], user, "{out}");
        assert_eq!(out["encrypt_event"]["key_matches"], true, "{out}");
        // Five Encrypts in pages of two: three pages, each event once.
        assert_eq!(
            out["paging"],
            serde_json::json!({"pages": 3, "events": 5, "distinct": 5}),
            "{out}"
        );
        for api in ["sts", "ram", "actiontrail", "bss"] {
            assert_eq!(
                out["wrong_secret"][api],
                error("SignatureDoesNotMatch", 400),
                "{api}: {out}"
            );
        }
    }
}

#[test]
fn official_cs_sdk_drives_the_local_ack() {
    let python = python();
    let dir = tempfile::tempdir().unwrap();
    // The configured AccessKey belongs to `ops`, the cluster's admin; `outsider` is only its
    // developer, which may not change Secret encryption.
    let account_file = dir.path().join("account.json");
    std::fs::write(
        &account_file,
        serde_json::json!({
            "users": [
                {
                    "name": "ops",
                    "access_keys": [{"id": DEFAULT_ACCESS_KEY_ID, "secret": DEFAULT_ACCESS_KEY_SECRET}],
                    "policies": ["AliyunKMSCryptoAdminAccess"],
                    "cluster_permissions": [{"resource_id": "c-sdk", "role_type": "admin", "is_owner": true}],
                },
                {
                    "name": "outsider",
                    "access_keys": [{"id": "LTAIoutsider", "secret": "outsider-secret"}],
                    "cluster_permissions": [{"resource_id": "c-sdk", "role_type": "dev"}],
                },
            ],
            "clusters": [{"cluster_id": "c-sdk", "current_version": "1.33.1-aliyun.1"}],
        })
        .to_string(),
    )
    .unwrap();
    let account_file = account_file.to_str().unwrap();
    for algorithm in ["v2", "v3"] {
        let emu = spawn(&[
            "--account-file",
            account_file,
            "--seed-key",
            "alias=sdk-ack",
            "--seed-key",
            "alias=sdk-aes128,spec=Aliyun_AES_128",
        ]);
        let endpoint = emu.url.trim_start_matches("http://").to_string();
        let out = run(
            &python,
            "cs_sdk.py",
            &[
                &endpoint,
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_ACCESS_KEY_SECRET,
                algorithm,
                "c-sdk",
                "alias/sdk-ack",
                "alias/sdk-aes128",
                "LTAIoutsider",
                "outsider-secret",
            ],
        );
        let detail = |state: &str, key: &str| {
            serde_json::json!({"state": state, "region": "cn-hangzhou", "version": "1.33.1-aliyun.1",
                               "type": "ManagedKubernetes", "key": key})
        };
        assert_eq!(out["before"], detail("running", ""), "{out}");
        assert_eq!(
            out["permissions"],
            serde_json::json!([["c-sdk", "cluster", "admin", 1]]),
            "{out}"
        );
        assert_eq!(
            out["wrong_key"],
            error("InvalidParameter.KmsKeyId", 400),
            "{out}"
        );
        assert_eq!(
            out["outsider"],
            error("ForbiddenUpdateKMSState", 403),
            "{out}"
        );
        assert_eq!(out["update_status"], 200, "{out}");
        assert_eq!(out["during"], detail("updating", ""), "{out}");
        assert_eq!(out["again"]["status"], 409, "{out}");
        let key_id = out["key_id"].as_str().unwrap();
        assert_eq!(out["after"], detail("running", key_id), "{out}");
        assert_eq!(
            out["missing_cluster"],
            error("ErrorClusterNotFound", 404),
            "{out}"
        );
        assert_eq!(
            out["wrong_secret"],
            error("SignatureDoesNotMatch", 400),
            "{out}"
        );
    }
}
