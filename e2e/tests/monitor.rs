//! The whole chain, real: the apiserver envelope-encrypts Secrets through the KMS v2 plugin and
//! the KMS emulator; the webhook learns the key from the SecretEncryption resource, polls it in
//! KMS and probes the apiserver's KMS health; turning the key off in KMS makes Secret writes fail
//! at the webhook with a message a person can act on, and turning it back on restores them.

use std::time::{Duration, Instant};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client, CustomResourceExt};
use secretkms_alibaba::credentials::{Credentials, StaticProvider};
use secretkms_alibaba::kms::{CreateKeyRequest, Endpoint, KmsClient, KmsConfig};
use secretkms_core::secret_encryption::{SecretEncryption, SecretEncryptionSpec};
use secretkms_e2e::kms::{KmsStack, KmsStackOptions, emulator_credentials};
use secretkms_e2e::webhook::{register, with_secret_encryption_rule};
use secretkms_e2e::{ControlPlane, Options, Webhook, WebhookOptions};
use secretkms_kms_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};

const WEBHOOK: &str = env!("CARGO_BIN_EXE_secretkms-webhook-e2e");
const EMULATOR: &str = env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e");
const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e");

struct Chain {
    stack: KmsStack,
    cp: ControlPlane,
    client: Client,
    webhook: Webhook,
    ns: String,
}

impl Chain {
    async fn start() -> Self {
        let stack = KmsStack::start(KmsStackOptions::new(EMULATOR, PLUGIN))
            .await
            .unwrap();
        let cp = ControlPlane::start(Options {
            encryption: stack.encryption("secretkms"),
            ..Default::default()
        })
        .await
        .unwrap();
        let client = cp.client().await.unwrap();
        install_crd(&client).await;
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
        let ns = cp.namespace(&client, "chain").await.unwrap();
        let config = with_secret_encryption_rule(webhook.configuration(
            "secretkms",
            (secretkms_e2e::TEST_NAMESPACE_LABEL, "on"),
            "Fail",
        ));
        register(&client, &webhook, &config, &ns)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", webhook.log_text()));
        Self {
            stack,
            cp,
            client,
            webhook,
            ns,
        }
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

    async fn create(&self, name: &str) -> Result<Secret, kube::Error> {
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            data: Some(
                [(
                    "token".to_string(),
                    ByteString(b"not-a-real-token".to_vec()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        Api::<Secret>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &secret)
            .await
    }

    /// Retries a create until it is admitted (the webhook's facts refresh on intervals).
    async fn eventually_accepts(&self, name: &str) {
        let since = Instant::now();
        loop {
            match self.create(name).await {
                Ok(_) => return,
                Err(e) if since.elapsed() < Duration::from_secs(60) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!(
                    "{name} still rejected: {e}\nwebhook log:\n{}",
                    tail(&self.webhook.log_text())
                ),
            }
        }
    }

    /// Retries a create until the webhook denies it, and returns the message.
    async fn eventually_rejects(&self, name: &str) -> String {
        let since = Instant::now();
        loop {
            match self.create(name).await {
                Err(kube::Error::Api(status)) if status.code == 403 => return status.message,
                Ok(_) => {
                    let _ = Api::<Secret>::namespaced(self.client.clone(), &self.ns)
                        .delete(name, &DeleteParams::default())
                        .await;
                }
                Err(_) => {}
            }
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "{name} never rejected\n{}",
                tail(&self.webhook.log_text())
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn set_spec(&self, spec: serde_json::Value) -> Result<SecretEncryption, kube::Error> {
        let patch = serde_json::json!({ "spec": spec });
        Api::<SecretEncryption>::all(self.client.clone())
            .patch("cluster", &PatchParams::default(), &Patch::Merge(&patch))
            .await
    }
}

async fn install_crd(client: &Client) {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    crds.create(&PostParams::default(), &SecretEncryption::crd())
        .await
        .unwrap();
    let since = Instant::now();
    loop {
        let crd = crds.get("secretencryptions.secretkms.io").await.unwrap();
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        if established {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "CRD never established"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
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

    chain.eventually_accepts("healthy").await;
    let api = Api::<SecretEncryption>::all(chain.client.clone());
    let since = Instant::now();
    while condition(&api.get("cluster").await.unwrap(), "Ready").map(|c| c.0) != Some("True".into())
    {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "status never Ready: {:?}",
            api.get("cluster").await.unwrap().status
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    chain.stack.admin().disable(&key).await.unwrap();
    let msg = chain.eventually_rejects("while-disabled").await;
    assert!(msg.contains(&key), "the message names the key: {msg}");
    assert!(msg.contains("EnableKey"), "and how to re-enable it: {msg}");
    // The status is refreshed on its own interval, so it may trail the admission decision.
    let since = Instant::now();
    while condition(&api.get("cluster").await.unwrap(), "KeyUsable")
        .map(|c| c.0)
        .as_deref()
        != Some("False")
    {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "status never showed KeyUsable False"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    chain.stack.admin().enable(&key).await.unwrap();
    chain.eventually_accepts("re-enabled").await;

    chain
        .stack
        .admin()
        .schedule_deletion(&key, 7)
        .await
        .unwrap();
    let msg = chain.eventually_rejects("pending-deletion").await;
    assert!(msg.contains("CancelKeyDeletion"), "{msg}");
    assert!(
        msg.contains("to be deleted on 20"),
        "the message carries the deletion date: {msg}"
    );
    chain.stack.admin().cancel_deletion(&key).await.unwrap();
    chain.eventually_accepts("cancelled").await;

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
    chain.eventually_accepts("healthy").await;
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
