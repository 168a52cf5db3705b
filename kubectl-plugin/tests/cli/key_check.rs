//! `key check` against the KMS emulator: a good key passes; disabled, pending-deletion,
//! wrong-spec and foreign-region keys fail with the right reason; without credentials the
//! credential chain's explanation is printed once.

use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, SeedKey,
};

use super::*;

async fn emulator(region: &str, seeds: &[&str]) -> secretkms_kms_emulator::Running {
    secretkms_kms_emulator::start(EmulatorConfig {
        region: region.into(),
        seed_keys: seeds
            .iter()
            .map(|s| s.parse::<SeedKey>().unwrap())
            .collect(),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn key_check(endpoint: &str, args: &[&str]) -> Output {
    let mut all = vec!["key", "check"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--kms-endpoint", endpoint]);
    let mut cmd = tokio::process::Command::from(cmd(&all));
    cmd.env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET);
    cmd.output().await.unwrap()
}

fn check_level(json: &serde_json::Value, name: &str) -> (String, String) {
    let c = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {json}"));
    (
        c["level"].as_str().unwrap().into(),
        c["detail"].as_str().unwrap().into(),
    )
}

async fn post(url: &str) {
    let resp = reqwest::Client::new().post(url).send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_key_passes_with_a_golden_checklist() {
    let kms = emulator(
        "cn-hangzhou",
        &["id=key-good0000000000000001,alias=alias/good,protection=on"],
    )
    .await;
    let out = key_check(&kms.url, &["alias/good", "--region", "cn-hangzhou"]).await;
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    // The round trip names the key's random primary version; pin it for the golden file.
    let keys: serde_json::Value = reqwest::get(format!("{}/_emulator/keys", kms.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let version =
        find_primary_version(&keys).expect("the emulator lists the key's primary version");
    golden("key-check-good.txt", &text.replace(&version, "<version>"));
}

fn find_primary_version(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .find(|(k, _)| {
                k.as_str() == "primary_key_version"
                    || k.as_str() == "PrimaryKeyVersion"
                    || k.as_str() == "primaryKeyVersion"
            })
            .and_then(|(_, v)| v.as_str().map(str::to_string))
            .or_else(|| m.values().find_map(find_primary_version)),
        serde_json::Value::Array(a) => a.iter().find_map(find_primary_version),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_keys_fail_with_the_reason() {
    let kms = emulator(
        "cn-hangzhou",
        &[
            "alias=alias/disabled,state=Disabled,protection=on",
            "alias=alias/pending",
            "alias=alias/weak,spec=Aliyun_AES_128,protection=on",
        ],
    )
    .await;
    post(&format!(
        "{}/_emulator/schedule-deletion?key=alias/pending&days=7",
        kms.url
    ))
    .await;

    let out = key_check(
        &kms.url,
        &["alias/disabled", "--region", "cn-hangzhou", "-o", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["result"], "fail");
    assert_eq!(check_level(&json, "enabled").0, "fail");
    assert!(check_level(&json, "enabled").1.contains("Disabled"));
    assert_eq!(check_level(&json, "key-spec").0, "pass");

    let out = key_check(
        &kms.url,
        &["alias/pending", "--region", "cn-hangzhou", "-o", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check_level(&json, "enabled").0, "fail");
    let (level, detail) = check_level(&json, "no-deletion-scheduled");
    assert_eq!(level, "fail");
    assert!(detail.starts_with("DeleteDate 20"), "{detail}");
    assert_eq!(check_level(&json, "deletion-protection").0, "warn");

    let out = key_check(
        &kms.url,
        &["alias/weak", "--region", "cn-hangzhou", "-o", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (level, detail) = check_level(&json, "key-spec");
    assert_eq!(level, "fail");
    assert!(
        detail.contains("Aliyun_AES_128 (ACK requires Aliyun_AES_256)"),
        "{detail}"
    );
    assert_eq!(check_level(&json, "enabled").0, "pass");
    assert_eq!(
        check_level(&json, "encrypt-decrypt").0,
        "pass",
        "the key itself works"
    );

    let out = key_check(
        &kms.url,
        &["alias/missing", "--region", "cn-hangzhou", "-o", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(check_level(&json, "exists").0, "fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_in_another_region_fails() {
    let kms = emulator("cn-shanghai", &["alias=alias/far,protection=on"]).await;
    let out = key_check(
        &kms.url,
        &["alias/far", "--region", "cn-hangzhou", "-o", "json"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (level, detail) = check_level(&json, "region");
    assert_eq!(level, "fail");
    assert!(
        detail.contains("the key is in cn-shanghai, the cluster in cn-hangzhou"),
        "{detail}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_are_an_error_not_a_finding() {
    let kms = emulator("cn-hangzhou", &["alias=alias/good"]).await;
    let mut c = tokio::process::Command::from(cmd(&[
        "key",
        "check",
        "alias/good",
        "--region",
        "cn-hangzhou",
        "--kms-endpoint",
        &kms.url,
    ]));
    c.env("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIunknown")
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "nope");
    let out = c.output().await.unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(stderr(&out).contains("alias/good"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("nope"), "the secret never appears");
}

#[test]
fn no_credentials_explain_the_chain_once() {
    let home = tempfile::tempdir().unwrap();
    // The endpoint is never reached: the chain fails first (and the ECS metadata service, the
    // one source that would leave loopback, is off).
    let out = cmd(&[
        "key",
        "check",
        "alias/k8s",
        "--kms-endpoint",
        "http://127.0.0.1:9",
    ])
    .env("HOME", home.path())
    .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(
        err.matches("no alibaba cloud credentials found").count(),
        1,
        "{err}"
    );
    golden(
        "error-key-check-no-credentials.txt",
        &err.replace(&home.path().display().to_string(), "$HOME"),
    );
}
