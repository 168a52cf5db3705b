//! ACK's flows against the emulator's account model, without a cluster: each preflight failure
//! of `enable --dry-run` with its fix (role not authorized, RAM user without the policy, low
//! balance, wrong key spec, service key), `key check --cluster-id`'s RAM and ACK part, `key
//! protect`, and `verify` reading ActionTrail for the calls ACK's role made. The flows on a
//! real control plane are `e2e/tests/ack_flows.rs`.

use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, DEFAULT_USER, EmulatorConfig, SeedKey,
};

use super::*;

const ROLE: &str = "AliyunCSManagedSecurityRole";
const CLUSTER: &str = "c-local";

async fn emulator(seeds: &[&str]) -> secretkms_kms_emulator::Running {
    secretkms_kms_emulator::start(EmulatorConfig {
        seed_keys: seeds
            .iter()
            .map(|s| s.parse::<SeedKey>().unwrap())
            .collect(),
        ..Default::default()
    })
    .await
    .unwrap()
}

/// The emulator whose ECS metadata hands out credentials of ACK's role, so a test can call KMS
/// as ACK's control plane does (its account file keeps the role once).
async fn emulator_as_ack(seeds: &[&str], dir: &std::path::Path) -> secretkms_kms_emulator::Running {
    let account = dir.join("account.json");
    std::fs::write(
        &account,
        serde_json::json!({
            "roles": [{"name": ROLE, "policies": ["AliyunCSManagedSecurityRolePolicy"]}]
        })
        .to_string(),
    )
    .unwrap();
    secretkms_kms_emulator::start(EmulatorConfig {
        seed_keys: seeds
            .iter()
            .map(|s| s.parse::<SeedKey>().unwrap())
            .collect(),
        ecs_role: ROLE.into(),
        account_file: Some(account),
        ..Default::default()
    })
    .await
    .unwrap()
}

async fn plugin(url: &str, args: &[&str]) -> Output {
    // Each command takes the endpoints of the services it calls.
    let mut all = args.to_vec();
    if args[0] != "verify" {
        all.extend_from_slice(&["--kms-endpoint", url]);
    }
    if args[..2] != ["key", "protect"] {
        all.extend_from_slice(&["--alibaba-endpoint", url]);
    }
    let mut cmd = tokio::process::Command::from(cmd(&all));
    cmd.env("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID)
        .env("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET)
        .env("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true");
    cmd.output().await.unwrap()
}

/// `enable` of cluster `c-local` with `key`, `-o json`, plus `extra`.
async fn enable(url: &str, key: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec![
        "enable",
        "--cluster-id",
        CLUSTER,
        "--key",
        key,
        "--region",
        "cn-hangzhou",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = plugin(url, &args).await;
    let json = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (out, json)
}

async fn dry_run(url: &str, key: &str) -> (Output, serde_json::Value) {
    enable(url, key, &["--dry-run"]).await
}

/// The emulated ACK cluster `c-local`, changed in the model only (no control plane behind it).
async fn cluster(url: &str, body: serde_json::Value) {
    control(
        reqwest::Method::PUT,
        &format!("{url}/_emulator/clusters/{CLUSTER}"),
        body,
    )
    .await;
}

fn check<'a>(checks: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#}"))
}

async fn control(method: reqwest::Method, url: &str, body: serde_json::Value) {
    let resp = reqwest::Client::new()
        .request(method, url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_account_passes_the_ram_checks_of_the_preflight() {
    let emu = emulator(&["alias=alias/good,protection=on,rotation=90d"]).await;
    cluster(
        &emu.url,
        serde_json::json!({"current_version": "1.30.4-aliyun.1"}),
    )
    .await;
    let (out, json) = dry_run(&emu.url, "alias/good").await;
    let checks = &json["preflight"]["checks"];
    assert_eq!(json["kind"], "Enable");
    assert_eq!(json["skipped"], "--dry-run");
    for name in [
        "key-spec",
        "not-service-key",
        "encrypt-decrypt",
        "security-role",
        "caller-kms-policy",
        "caller-cluster-role",
        "cluster-state",
        "account-balance",
    ] {
        assert_eq!(check(checks, name)["level"], "pass", "{name}: {checks:#}");
    }
    assert!(
        check(checks, "caller")["detail"]
            .as_str()
            .unwrap()
            .contains(&format!(":user/{DEFAULT_USER}")),
        "{checks:#}"
    );
    let api = check(checks, "kms-api-version")["detail"].as_str().unwrap();
    assert!(api.starts_with("Kubernetes 1.30.4: KMS v1"), "{api}");
    // Without a cluster the cost cannot be estimated: said, not failed.
    let calls = check(checks, "kms-calls");
    assert_eq!(calls["level"], "warn");
    assert!(
        calls["detail"]
            .as_str()
            .unwrap()
            .starts_with("could not check"),
        "{calls}"
    );
    assert_ne!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_account_that_has_not_authorized_the_role_fails_with_the_fix() {
    let emu = emulator(&["alias=alias/good,protection=on"]).await;
    control(
        reqwest::Method::DELETE,
        &format!("{}/_emulator/account/roles/{ROLE}", emu.url),
        serde_json::Value::Null,
    )
    .await;
    let (out, json) = dry_run(&emu.url, "alias/good").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let role = check(&json["preflight"]["checks"], "security-role");
    assert_eq!(role["level"], "fail");
    assert!(role["detail"].as_str().unwrap().contains("not authorized"));
    assert!(role["fix"].as_str().unwrap().contains("authorize"));
    assert_eq!(json["preflight"]["result"], "fail");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ram_user_without_the_crypto_admin_policy_fails_with_the_attach_command() {
    let emu = emulator(&["alias=alias/good,protection=on"]).await;
    control(
        reqwest::Method::PUT,
        &format!("{}/_emulator/account/users/{DEFAULT_USER}", emu.url),
        serde_json::json!({
            "access_keys": [{"id": DEFAULT_ACCESS_KEY_ID, "secret": DEFAULT_ACCESS_KEY_SECRET}],
            "policies": ["AliyunKMSCryptoUserAccess"],
        }),
    )
    .await;
    let (out, json) = dry_run(&emu.url, "alias/good").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let policy = check(&json["preflight"]["checks"], "caller-kms-policy");
    assert_eq!(policy["level"], "fail", "{policy}");
    assert!(
        policy["detail"]
            .as_str()
            .unwrap()
            .contains("does not hold AliyunKMSCryptoAdminAccess")
    );
    assert_eq!(
        policy["fix"],
        format!(
            "aliyun ram AttachPolicyToUser --PolicyType System --PolicyName AliyunKMSCryptoAdminAccess --UserName {DEFAULT_USER}"
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overdue_account_fails_with_the_seven_days_warning() {
    let emu = emulator(&["alias=alias/good,protection=on"]).await;
    control(
        reqwest::Method::PUT,
        &format!("{}/_emulator/account/balance", emu.url),
        serde_json::json!({"available_amount": "-12.00"}),
    )
    .await;
    let (out, json) = dry_run(&emu.url, "alias/good").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let balance = check(&json["preflight"]["checks"], "account-balance");
    assert_eq!(balance["level"], "fail");
    let detail = balance["detail"].as_str().unwrap();
    assert!(detail.contains("-12.00 CNY"), "{detail}");
    assert!(detail.contains("seven days"), "{detail}");
    assert!(balance["fix"].as_str().unwrap().contains("top up"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_of_the_wrong_spec_and_a_service_key_fail() {
    let emu = emulator(&[
        "alias=alias/weak,spec=Aliyun_AES_128,protection=on",
        "alias=alias/acs/oss,protection=on",
    ])
    .await;
    let (out, json) = dry_run(&emu.url, "alias/weak").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let spec = check(&json["preflight"]["checks"], "key-spec");
    assert_eq!(spec["level"], "fail");
    assert!(
        spec["fix"]
            .as_str()
            .unwrap()
            .contains("CreateKey --KeySpec Aliyun_AES_256")
    );
    assert_eq!(
        check(&json["preflight"]["checks"], "not-service-key")["level"],
        "pass"
    );

    let (out, json) = dry_run(&emu.url, "alias/acs/oss").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let service = check(&json["preflight"]["checks"], "not-service-key");
    assert_eq!(service["level"], "fail", "{service}");
    assert!(
        service["detail"]
            .as_str()
            .unwrap()
            .contains("alias/acs/oss")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_check_with_a_cluster_id_adds_the_ram_and_ack_checks() {
    let emu = emulator(&["alias=alias/good,protection=on"]).await;
    control(
        reqwest::Method::DELETE,
        &format!("{}/_emulator/account/roles/{ROLE}", emu.url),
        serde_json::Value::Null,
    )
    .await;
    let out = plugin(
        &emu.url,
        &[
            "key",
            "check",
            "alias/good",
            "--region",
            "cn-hangzhou",
            "--cluster-id",
            "c-local",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["clusterId"], "c-local");
    assert_eq!(check(&json["checks"], "security-role")["level"], "fail");
    assert_eq!(check(&json["checks"], "caller-kms-policy")["level"], "pass");
    for name in ["caller-cluster-role", "cluster-state"] {
        assert!(
            json["checks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["name"] == name),
            "{name} is reported, checked or not: {json:#}"
        );
    }
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["name"] != "account-balance"),
        "key check leaves the cost and balance to enable"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn key_protect_turns_deletion_protection_on_and_prints_the_deny_policy() {
    let emu = emulator(&["id=key-protect0000000000001,alias=alias/unprotected"]).await;
    let out = plugin(
        &emu.url,
        &[
            "key",
            "protect",
            "alias/unprotected",
            "--region",
            "cn-hangzhou",
            "--break-glass-role",
            "acs:ram::1234567890123456:role/kms-break-glass",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    golden("key-protect.txt", &stdout(&out));
    // A second run finds it on already.
    let out = plugin(
        &emu.url,
        &[
            "key",
            "protect",
            "key-protect0000000000001",
            "--region",
            "cn-hangzhou",
            "--break-glass-role",
            "acs:ram::1234567890123456:role/kms-break-glass",
            "-o",
            "json",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["deletionProtection"], "Enabled");
    assert_eq!(json["wasProtected"], true);

    let out = plugin(
        &emu.url,
        &[
            "key",
            "protect",
            "alias/unprotected",
            "--region",
            "cn-hangzhou",
            "--break-glass-role",
            "break-glass",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("not a RAM role ARN"),
        "{}",
        stderr(&out)
    );
}

/// Encrypt and Decrypt as ACK's role, through the emulator's ECS metadata.
async fn calls_as_the_role(url: &str) {
    use secretkms_alibaba::credentials::{CachedProvider, EcsRamRoleProvider};
    use secretkms_alibaba::kms::{Endpoint, KmsClient, KmsConfig};
    let url = reqwest::Url::parse(url).unwrap();
    let credentials =
        CachedProvider::new(EcsRamRoleProvider::new(Some(ROLE.into()), url.clone()).unwrap());
    let kms = KmsClient::new(
        KmsConfig::new(Endpoint::Custom(url)),
        std::sync::Arc::new(credentials),
    )
    .unwrap();
    let sealed = kms.encrypt("alias/good", b"dek", None).await.unwrap();
    kms.decrypt(&sealed.ciphertext_blob, None).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_counts_the_roles_kms_calls_in_actiontrail() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator_as_ack(&["alias=alias/good,protection=on"], dir.path()).await;
    let verify = |extra: &'static [&'static str]| {
        let url = emu.url.clone();
        async move {
            let mut args = vec![
                "verify",
                "--region",
                "cn-hangzhou",
                "--since",
                "10m",
                "-o",
                "json",
            ];
            args.extend_from_slice(extra);
            let out = plugin(&url, &args).await;
            let json: serde_json::Value = serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
            (out, json)
        }
    };
    // The caller's own calls (key checks above, say) are not the role's.
    let (out, json) = verify(&["--trail-timeout", "0s"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let trail = check(&json["checks"], "actiontrail");
    assert_eq!(trail["level"], "fail");
    assert!(trail["fix"].as_str().unwrap().contains("lag"));

    calls_as_the_role(&emu.url).await;
    let (out, json) = verify(&["--trail-timeout", "30s", "--trail-interval", "1s"]).await;
    assert_eq!(out.status.code(), Some(0), "{json:#}{}", stderr(&out));
    assert_eq!(check(&json["checks"], "actiontrail")["level"], "pass");
    assert_eq!(json["actiontrail"]["encrypt"], 1);
    assert_eq!(json["actiontrail"]["decrypt"], 1);
    assert_eq!(json["actiontrail"]["role"], ROLE);
    assert!(
        json["actiontrail"]["first"]
            .as_str()
            .unwrap()
            .starts_with("20")
    );
    // No cluster: health and canary say why they were not checked.
    for name in ["kms-health", "canary"] {
        let c = check(&json["checks"], name);
        assert_eq!(c["level"], "warn");
        assert!(c["detail"].as_str().unwrap().starts_with("could not check"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caller_without_the_clusters_admin_or_ops_role_fails_before_ack_refuses() {
    let emu = emulator(&["alias=alias/good,protection=on"]).await;
    cluster(&emu.url, serde_json::json!({})).await;
    control(
        reqwest::Method::PUT,
        &format!("{}/_emulator/account/users/{DEFAULT_USER}", emu.url),
        serde_json::json!({
            "access_keys": [{"id": DEFAULT_ACCESS_KEY_ID, "secret": DEFAULT_ACCESS_KEY_SECRET}],
            "policies": ["AliyunKMSCryptoAdminAccess"],
            "cluster_permissions": [{"resource_id": CLUSTER, "role_type": "dev"}],
        }),
    )
    .await;
    // --force passes warnings, never failures: ACK is not called.
    let (out, json) = enable(&emu.url, "alias/good", &["--force"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let role = check(&json["preflight"]["checks"], "caller-cluster-role");
    assert_eq!(role["level"], "fail", "{role}");
    assert!(
        role["detail"]
            .as_str()
            .unwrap()
            .contains("ForbiddenUpdateKMSState")
    );
    assert!(role["fix"].as_str().unwrap().contains("admin or O&M role"));
    assert_eq!(json["skipped"], "the preflight failed");
    assert!(json.get("update").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_within_acks_cool_down_is_refused_with_the_wait() {
    let emu = emulator(&["alias=alias/good,protection=on"]).await;
    let now = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    cluster(
        &emu.url,
        serde_json::json!({"last_kms_update": format!("{}Z", &now[..19])}),
    )
    .await;
    // Without a kubeconfig the cost estimate only warns; --force goes ahead to ACK's 409.
    let (out, json) = enable(&emu.url, "alias/good", &["--force"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(json["preflight"]["result"], "warn", "{json:#}");
    let update = &json["update"]["check"];
    assert_eq!(update["level"], "fail", "{update}");
    assert!(
        update["detail"].as_str().unwrap().contains("cooling down"),
        "{update}"
    );
    assert!(update["fix"].as_str().unwrap().contains("five minutes"));
    assert!(json.get("verification").is_none());
}
