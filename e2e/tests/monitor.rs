//! The whole chain, real: the apiserver envelope-encrypts Secrets through the KMS v2 plugin and
//! the KMS emulator; the webhook learns the key from the SecretEncryption resource, polls it in
//! KMS and probes the apiserver's KMS health; turning the key off in KMS makes Secret writes fail
//! at the webhook with a message a person can act on, and turning it back on restores them.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use secretkms_alibaba::credentials::{Credentials, StaticProvider};
use secretkms_alibaba::kms::{CreateKeyRequest, Endpoint, KmsClient, KmsConfig};
use secretkms_core::secret_encryption::{SecretEncryption, SecretEncryptionSpec};
use secretkms_e2e::fixtures::{Admission, encrypted_cluster, eventually, install_crd, secret};
use secretkms_e2e::kms::{KmsStack, KmsStackOptions, emulator_credentials};
use secretkms_e2e::webhook::{register, with_secret_encryption_rule};
use secretkms_e2e::{ControlPlane, TEST_NAMESPACE_LABEL, Webhook, WebhookOptions};
use secretkms_kms_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};

const WEBHOOK: &str = env!("CARGO_BIN_EXE_secretkms-webhook-e2e");
const EMULATOR: &str = env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e");
const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e");

struct Chain {
    // Field order is drop order: the webhook and the control plane go before the KMS stack.
    webhook: Webhook,
    cp: ControlPlane,
    stack: KmsStack,
    client: Client,
}

impl Chain {
    async fn start() -> Self {
        let (stack, cp) =
            encrypted_cluster(KmsStackOptions::new(EMULATOR, PLUGIN), "secretkms").await;
        let client = cp.client().await.unwrap();
        install_crd(&client, &SecretEncryption::crd()).await;
        let spec: SecretEncryptionSpec = serde_json::from_value(
            serde_json::json!({ "key": stack.key(), "region": "cn-hangzhou" }),
        )
        .unwrap();
        let object = SecretEncryption::new("cluster", spec);
        Api::<SecretEncryption>::all(client.clone())
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
        let webhook = Webhook::start(
            &cp,
            WEBHOOK.as_ref(),
            WebhookOptions {
                apiserver_probe: true,
                monitor: true,
                env: emulator_credentials(),
                extra_args: vec![format!("--kms-endpoint={}", stack.emulator_url())],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let chain = Self {
            webhook,
            cp,
            stack,
            client,
        };
        let config = with_secret_encryption_rule(chain.webhook.configuration(
            "secretkms",
            (TEST_NAMESPACE_LABEL, "on"),
            "Fail",
        ));
        register(
            &chain.client,
            &chain.webhook,
            &config,
            &chain.admission().temp_ns().await,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", chain.webhook.log_text()));
        chain
    }

    /// Every test namespace is guarded (the configuration selects the test label).
    fn admission(&self) -> Admission<'_> {
        Admission::new(&self.cp, &self.client, "chain").showing_log(self.webhook.log())
    }

    fn kms(&self) -> KmsClient {
        KmsClient::new(
            KmsConfig::new(Endpoint::parse(self.stack.emulator_url()).unwrap()),
            std::sync::Arc::new(StaticProvider(Credentials::access_key(
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_ACCESS_KEY_SECRET,
                "e2e",
            ))),
        )
        .unwrap()
    }

    async fn set_spec(&self, spec: serde_json::Value) -> Result<SecretEncryption, kube::Error> {
        let patch = serde_json::json!({ "spec": spec });
        Api::<SecretEncryption>::all(self.client.clone())
            .patch("cluster", &PatchParams::default(), &Patch::Merge(&patch))
            .await
    }

    /// Waits until the `cluster` object's condition `type_` has `status` (the status is
    /// refreshed on its own interval, so it may trail the admission decisions).
    async fn wait_condition(&self, type_: &str, status: &str) {
        let api = Api::<SecretEncryption>::all(self.client.clone());
        eventually(
            &format!("{type_} {status}"),
            Duration::from_secs(30),
            || async {
                let se = api.get("cluster").await.map_err(|e| e.to_string())?;
                match condition(&se, type_) {
                    Some((s, _)) if s == status => Ok(()),
                    _ => Err(format!("status {:?}", se.status)),
                }
            },
        )
        .await;
    }
}

fn condition(object: &SecretEncryption, type_: &str) -> Option<(String, String)> {
    object
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone()))
}

#[tokio::test]
async fn turning_the_key_off_in_kms_denies_secret_writes_and_turning_it_on_restores_them() {
    let chain = Chain::start().await;
    let key = chain.stack.key().to_string();

    chain
        .admission()
        .eventually_accepts(|_| secret("healthy"))
        .await;
    chain.wait_condition("Ready", "True").await;

    chain.stack.admin().disable(&key).await.unwrap();
    // The key and how to re-enable it.
    chain
        .admission()
        .eventually_rejects_naming(|_| secret("while-disabled"), &[&key, "EnableKey"])
        .await;
    chain.wait_condition("KeyUsable", "False").await;

    chain.stack.admin().enable(&key).await.unwrap();
    chain
        .admission()
        .eventually_accepts(|_| secret("re-enabled"))
        .await;

    chain
        .stack
        .admin()
        .schedule_deletion(&key, 7)
        .await
        .unwrap();
    // How to cancel, and the deletion date.
    chain
        .admission()
        .eventually_rejects_naming(
            |_| secret("pending-deletion"),
            &["CancelKeyDeletion", "to be deleted on 20"],
        )
        .await;
    chain.stack.admin().cancel_deletion(&key).await.unwrap();
    chain
        .admission()
        .eventually_accepts(|_| secret("cancelled"))
        .await;

    // Transitions were recorded as Events on the resource.
    let events = chain
        .cp
        .kubectl()
        .args(["get", "events", "-n", "default", "-o", "json"])
        .output()
        .unwrap();
    let events = String::from_utf8_lossy(&events.stdout);
    assert!(
        events.contains("KeyUsableFalse"),
        "an Event for the disabled key"
    );
}

#[tokio::test]
async fn the_key_change_guard_checks_the_new_key_in_kms() {
    let chain = Chain::start().await;
    chain
        .admission()
        .eventually_accepts(|_| secret("healthy"))
        .await;
    let kms = chain.kms();
    let make = |spec: &str| CreateKeyRequest {
        key_spec: spec.into(),
        ..Default::default()
    };
    let weak = kms
        .create_key(&make("Aliyun_AES_128"))
        .await
        .unwrap()
        .key_metadata
        .key_id;
    let disabled = kms
        .create_key(&make("Aliyun_AES_256"))
        .await
        .unwrap()
        .key_metadata
        .key_id;
    kms.disable_key(&disabled).await.unwrap();
    let good = kms
        .create_key(&make("Aliyun_AES_256"))
        .await
        .unwrap()
        .key_metadata
        .key_id;

    let denied = |r: Result<SecretEncryption, kube::Error>| match r {
        Err(kube::Error::Api(s)) => s.message,
        Ok(_) => panic!("the change was admitted"),
        Err(e) => panic!("{e}"),
    };
    let msg = denied(
        chain
            .set_spec(serde_json::json!({ "key": "alias/does-not-exist" }))
            .await,
    );
    assert!(
        msg.contains("does-not-exist") || msg.contains("NotFound"),
        "{msg}"
    );
    let msg = denied(chain.set_spec(serde_json::json!({ "key": disabled })).await);
    assert!(msg.contains("Disabled"), "{msg}");
    let msg = denied(chain.set_spec(serde_json::json!({ "key": weak })).await);
    assert!(msg.contains("Aliyun_AES_128"), "{msg}");
    let msg = denied(
        chain
            .set_spec(serde_json::json!({ "key": good, "region": "cn-shanghai" }))
            .await,
    );
    assert!(
        msg.contains("cn-shanghai") && msg.contains("cn-hangzhou"),
        "{msg}"
    );

    chain
        .set_spec(serde_json::json!({ "key": good }))
        .await
        .expect("a good key is admitted");
    // The new key's facts replace the old key's before writes pass again.
    chain
        .admission()
        .eventually_accepts(|_| secret("on-the-new-key"))
        .await;

    // Changes that weaken the guard need the force annotation.
    for weakening in [
        serde_json::json!({ "exemptNamespaces": ["team-x"] }),
        serde_json::json!({ "endpoint": "https://kms.example.com" }),
        serde_json::json!({ "maxStateAgeSeconds": 3000 }),
        serde_json::json!({ "enforcement": "audit" }),
    ] {
        let msg = denied(chain.set_spec(weakening.clone()).await);
        assert!(msg.contains("weakens the guard"), "{weakening}: {msg}");
        assert!(msg.contains("secretkms.io/force"), "{weakening}: {msg}");
    }
    let too_old = chain
        .set_spec(serde_json::json!({ "maxStateAgeSeconds": 7200 }))
        .await;
    assert!(
        matches!(&too_old, Err(kube::Error::Api(s)) if s.code == 422),
        "the CRD caps maxStateAgeSeconds: {too_old:?}"
    );

    let api = Api::<SecretEncryption>::all(chain.client.clone());
    let msg = match api.delete("cluster", &DeleteParams::default()).await {
        Err(kube::Error::Api(s)) => s.message,
        other => {
            panic!("deleting the resource while Secrets are encrypted must be denied: {other:?}")
        }
    };
    assert!(
        msg.contains("secretkms.io/force"),
        "the message says how to force it: {msg}"
    );
    let forced =
        serde_json::json!({ "metadata": { "annotations": { "secretkms.io/force": "true" } } });
    api.patch("cluster", &PatchParams::default(), &Patch::Merge(&forced))
        .await
        .unwrap();
    api.delete("cluster", &DeleteParams::default())
        .await
        .expect("a forced delete is admitted");
}

/// A declaration that can never be read is not "nothing declared": with the CRD missing and
/// the apiserver probe answering, the webhook turns ready and denies Secret writes with the
/// source's error, instead of admitting them with a warning forever.
#[tokio::test]
async fn a_declaration_that_never_answers_denies_with_its_error() {
    let cp = ControlPlane::start(Default::default()).await.unwrap();
    let client = cp.client().await.unwrap();
    let webhook = Webhook::start(
        &cp,
        WEBHOOK.as_ref(),
        WebhookOptions {
            apiserver_probe: true,
            monitor: true,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let admission = Admission::new(&cp, &client, "no-crd").showing_log(webhook.log());
    let config = webhook.configuration("secretkms", (TEST_NAMESPACE_LABEL, "on"), "Fail");
    register(&client, &webhook, &config, &admission.temp_ns().await)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", webhook.log_text()));
    // With the source's error, once the watch has failed.
    admission
        .eventually_rejects_naming(
            |_| secret("app"),
            &["has never been read", "is not installed"],
        )
        .await;
}

/// The family a queried series belongs to, as `# TYPE` lines name it.
fn family(series: &str) -> &str {
    ["_bucket", "_count", "_sum", "_total"]
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .unwrap_or(series)
}

/// True when `scrape` has a sample of `series` or declares its family: a family without a
/// sample yet (nothing refused, nothing weakened) is still the right name.
fn exported(scrape: &str, series: &str) -> bool {
    scrape.lines().any(|l| {
        l.strip_prefix(series)
            .is_some_and(|rest| rest.starts_with(['{', ' ']))
            || l.strip_prefix("# TYPE ")
                .and_then(|t| t.split_whitespace().next())
                .is_some_and(|f| f == family(series))
    })
}

/// Every series the chart's Grafana dashboard queries is exported by the real webhook or the
/// real kube-apiserver (whose KMS metrics are how the dashboard sees the plugin).
#[tokio::test]
async fn every_series_the_dashboard_queries_is_exported() {
    let chain = Chain::start().await;
    chain
        .admission()
        .eventually_accepts(|_| secret("for-the-metrics"))
        .await;
    secretkms_alibaba::install_crypto_provider();
    let webhook = reqwest::get(chain.webhook.metrics_url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let apiserver = chain
        .client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .unwrap();
    let queries = secretkms_e2e::chart::dashboard::queries().unwrap();
    let mut missing = Vec::new();
    for q in &queries {
        for series in secretkms_e2e::chart::dashboard::series_of(&q.expr) {
            let scrape = if series.starts_with("apiserver_") {
                &apiserver
            } else {
                &webhook
            };
            if !exported(scrape, &series) {
                missing.push(format!("{series} (panel {:?})", q.panel));
            }
        }
    }
    assert!(missing.is_empty(), "not exported: {missing:?}");
}

/// Credential material the webhook and the plugin are given in the test below, each value
/// distinctive so a leak anywhere is found.
const LEAK_AK_ID: &str = "LTAIsurfaceTestAccessKeyId";
const LEAK_AK_SECRET: &str = "surface-test/access+key=secret";
const LEAK_SOURCE_TOKEN: &str = "CAISsurface-test/source+token=";
const LEAK_OIDC_TOKEN: &str = "eyJsurfaceTest.oidc-token-content.c2ln";
const ROLE_ARN: &str = "acs:ram::1234567890:role/leak";

/// What must appear on no surface.
const LEAK_NEEDLES: [&str; 5] = [
    LEAK_AK_SECRET,
    LEAK_SOURCE_TOKEN,
    LEAK_OIDC_TOKEN,
    "Signature=",
    "SecurityToken",
];

/// Every credential source the webhook and the plugin run with in a cluster (an AccessKey pair,
/// with or without a SecurityToken, RamRoleArn from a CLI profile, RRSA's OIDC token file), failing against a closed
/// loopback port and against the emulator throttling STS and KMS: no surface a person or a log
/// collector sees — the denial, the SecretEncryption's status, Events, the webhook's log,
/// `kubectl secretkms status` (text and JSON) and `key check` — shows the AccessKey secret, a
/// SecurityToken, the OIDC token's content or a signature. (ECS metadata is disabled here: the
/// metadata address is not loopback; `alibaba --test credentials` drives it on loopback.)
#[tokio::test]
async fn no_surface_shows_credential_material_when_credentials_fail() {
    let stack = KmsStack::start(KmsStackOptions::new(EMULATOR, PLUGIN))
        .await
        .unwrap();
    let cp = ControlPlane::start(Default::default()).await.unwrap();
    let client = cp.client().await.unwrap();
    install_crd(&client, &SecretEncryption::crd()).await;
    let spec: SecretEncryptionSpec =
        serde_json::from_value(serde_json::json!({ "key": stack.key(), "region": "cn-hangzhou" }))
            .unwrap();
    Api::<SecretEncryption>::all(client.clone())
        .create(
            &PostParams::default(),
            &SecretEncryption::new("cluster", spec),
        )
        .await
        .unwrap();
    let closed = format!(
        "http://127.0.0.1:{}",
        secretkms_e2e::process::free_port().unwrap()
    );
    let token_file = cp.dir().join("oidc-token");
    std::fs::write(&token_file, LEAK_OIDC_TOKEN).unwrap();
    let vars = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let access_key = vars(&[
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", LEAK_AK_ID),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", LEAK_AK_SECRET),
    ]);
    let sts_token = [
        access_key.clone(),
        vars(&[("ALIBABA_CLOUD_SECURITY_TOKEN", LEAK_SOURCE_TOKEN)]),
    ]
    .concat();
    // RamRoleArn comes from a CLI profile (no environment variable selects it).
    let profiles = cp.dir().join("aliyun-config.json");
    let arn_profile = serde_json::json!({
        "current": "arn",
        "profiles": [{"name": "arn", "mode": "RamRoleArn", "access_key_id": LEAK_AK_ID,
                      "access_key_secret": LEAK_AK_SECRET, "ram_role_arn": ROLE_ARN}],
    });
    std::fs::write(&profiles, arn_profile.to_string()).unwrap();
    let ram_role = vars(&[
        ("ALIBABA_CLOUD_CONFIG_FILE", &profiles.display().to_string()),
        ("ALIBABA_CLOUD_PROFILE", "arn"),
    ]);
    let oidc = vars(&[
        ("ALIBABA_CLOUD_ROLE_ARN", ROLE_ARN),
        (
            "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
            "acs:ram::1234567890:oidc-provider/ack",
        ),
        (
            "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
            &token_file.display().to_string(),
        ),
    ]);
    // (case, credentials, STS endpoint, KMS endpoint, the action the emulator throttles)
    let emulator = stack.emulator_url().to_string();
    let (throttled, none) = (Some, None);
    let cases = [
        (
            "access key, KMS closed",
            &access_key,
            &emulator,
            &closed,
            none,
        ),
        (
            "access key, KMS throttling",
            &access_key,
            &emulator,
            &emulator,
            throttled("DescribeKey"),
        ),
        (
            "STS token, KMS closed",
            &sts_token,
            &emulator,
            &closed,
            none,
        ),
        (
            "STS token, KMS throttling",
            &sts_token,
            &emulator,
            &emulator,
            throttled("DescribeKey"),
        ),
        (
            "RamRoleArn, STS closed",
            &ram_role,
            &closed,
            &emulator,
            none,
        ),
        (
            "RamRoleArn, STS throttling",
            &ram_role,
            &emulator,
            &emulator,
            throttled("AssumeRole"),
        ),
        ("OIDC, STS closed", &oidc, &closed, &emulator, none),
        (
            "OIDC, STS throttling",
            &oidc,
            &emulator,
            &emulator,
            throttled("AssumeRoleWithOIDC"),
        ),
    ];
    for (i, (case, credentials, sts, kms, fault)) in cases.into_iter().enumerate() {
        stack.admin().clear_faults().await.unwrap();
        if let Some(action) = fault {
            let fault = serde_json::json!({ "kind": "throttle", "count": 1000, "action": action });
            stack.admin().inject_fault(fault).await.unwrap();
        }
        let mut env = credentials.clone();
        env.extend([
            ("ALIBABA_CLOUD_STS_ENDPOINT".to_string(), sts.to_string()),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED".into(), "true".into()),
        ]);
        if !env.iter().any(|(k, _)| k == "ALIBABA_CLOUD_CONFIG_FILE") {
            env.push(("ALIBABA_CLOUD_CLI_PROFILE_DISABLED".into(), "true".into()));
        }
        let mut webhook = Webhook::start(
            &cp,
            WEBHOOK.as_ref(),
            WebhookOptions {
                monitor: true,
                env: env.clone(),
                extra_args: vec![format!("--kms-endpoint={kms}")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let purpose = format!("leak-{i}");
        let admission = Admission::new(&cp, &client, &purpose)
            .labelled("secretkms-leak", &purpose)
            .showing_log(webhook.log());
        let config = webhook.configuration(&purpose, ("secretkms-leak", &purpose), "Fail");
        register(&client, &webhook, &config, &admission.temp_ns().await)
            .await
            .unwrap_or_else(|e| panic!("{case}: {e}\n{}", webhook.log_text()));
        let denial = admission.eventually_rejects(|_| secret("app")).await;
        // The status is written on its own interval: wait until it carries this case's error.
        let api = Api::<SecretEncryption>::all(client.clone());
        let status = eventually(
            &format!("{case}: an error in the status"),
            Duration::from_secs(30),
            || async {
                let se = api.get("cluster").await.map_err(|e| e.to_string())?;
                let text = serde_json::to_string(&se.status).unwrap_or_default();
                match condition(&se, "KeyUsable") {
                    Some((s, _)) if s == "False" || s == "Unknown" => Ok(text),
                    _ => Err(text),
                }
            },
        )
        .await;
        let events = Api::<k8s_openapi::api::core::v1::Event>::all(client.clone())
            .list(&Default::default())
            .await
            .unwrap();
        let events = serde_json::to_string(&events.items).unwrap();
        let plugin = |args: &[&str]| {
            let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_secretkms-plugin-e2e"));
            cmd.args(args)
                .arg("--kubeconfig")
                .arg(&cp.kubeconfig)
                .args(["--kms-endpoint", kms])
                .env("NO_COLOR", "1")
                .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
                .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
                .envs(env.iter().map(|(k, v)| (k, v)));
            let out = cmd.output().unwrap();
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let status_text = plugin(&["status"]);
        let status_json = plugin(&["status", "-o", "json"]);
        let key_check = plugin(&["key", "check", stack.key(), "--region", "cn-hangzhou"]);
        webhook.stop();
        let log = webhook.log_text();
        eprintln!("{case}: denied with {denial:?}\nkey check: {key_check}");
        for (surface, text) in [
            ("the denial", &denial),
            ("the SecretEncryption's status", &status),
            ("Events", &events),
            ("the webhook's log", &log),
            ("`status`", &status_text),
            ("`status -o json`", &status_json),
            ("`key check`", &key_check),
        ] {
            for needle in LEAK_NEEDLES {
                assert!(
                    !text.contains(needle),
                    "{case}: {surface} shows {needle:?}:\n{text}"
                );
            }
        }
        Api::<ValidatingWebhookConfiguration>::all(client.clone())
            .delete(&purpose, &DeleteParams::default())
            .await
            .unwrap();
    }
}
