//! The chart installed as a cluster would run it: its rendered configuration applied to a real
//! apiserver that encrypts Secrets through KMS (the plugin and the emulator as processes), and
//! the webhook started from the Deployment as the chart's ServiceAccount, with only what a pod
//! alone has replaced ([`PodStandIn`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use secretkms_core::secret_encryption::SecretEncryption;
use secretkms_e2e::ControlPlane;
use secretkms_e2e::chart::{self, ChartWebhook, PodStandIn};
use secretkms_e2e::fixtures::{Admission, encrypted_cluster, established, eventually};
use secretkms_e2e::kms::{EmulatorAdmin, KmsStack, KmsStackOptions};
use secretkms_e2e::process::{free_ports, tail};
use secretkms_e2e::webhook::wait_called;
use serde_json::{Value, json};

use super::{EMULATOR, FULLNAME, KEY_ALIAS, NAMESPACE, PLUGIN, RELEASE, WEBHOOK, ok};

/// The installed chart. The release namespace and kube-system are excluded by its webhook
/// configuration; every other namespace is guarded.
pub(super) struct Installed {
    // Field order is drop order: the webhook goes before the control plane it watches.
    pub(super) webhook: ChartWebhook,
    pub(super) cp: ControlPlane,
    pub(super) admin: Client,
    /// The chart's ServiceAccount, as a kubeconfig (a TokenRequest token).
    pub(super) sa_kubeconfig: PathBuf,
    /// The emulator's controls; the process is kept in `_kms`.
    pub(super) kms: EmulatorAdmin,
    _kms: KmsStack,
}

impl Installed {
    pub(super) async fn new() -> Self {
        // Secrets are encrypted through KMS (the plugin and the emulator as processes), so
        // the guard sees what a real encrypted cluster shows: KMS writes Secrets.
        let (stack, cp) = encrypted_cluster(
            KmsStackOptions {
                key_alias: KEY_ALIAS.into(),
                ..KmsStackOptions::new(EMULATOR, PLUGIN)
            },
            "secretkms",
        )
        .await;
        let admin = cp.client().await.unwrap();

        let values = chart::chart_dir().join("ci/default-values.yaml");
        let endpoint = format!("kms.endpoint={}", stack.emulator_url());
        let rendered = chart::template(
            &cp,
            RELEASE,
            NAMESPACE,
            &[
                "-f",
                values.to_str().unwrap(),
                "--set",
                &format!("secretEncryption.key={KEY_ALIAS}"),
                "--set",
                "credentials.accessKey.existingSecret=kms-credentials",
                "--set",
                &endpoint,
            ],
        )
        .unwrap();

        // Namespace, CRD, RBAC, ServiceAccount, the canary and the `cluster` object, for real.
        ok(
            &cp.kubectl()
                .args(["create", "namespace", NAMESPACE])
                .output()
                .unwrap(),
            "create namespace",
        );
        let crd = rendered.one("CustomResourceDefinition", None).unwrap();
        ok(
            &chart::apply(&cp, [crd], false).unwrap(),
            "applying the CRD",
        );
        established(&admin, &["secretencryptions.secretkms.io"]).await;
        let setup: Vec<&Value> = rendered
            .docs
            .iter()
            .filter(|d| {
                [
                    "ServiceAccount",
                    "ClusterRole",
                    "ClusterRoleBinding",
                    "Role",
                    "RoleBinding",
                    "SecretEncryption",
                ]
                .contains(&d["kind"].as_str().unwrap_or_default())
                    || d["metadata"]["name"].as_str() == Some(&format!("{FULLNAME}-canary"))
            })
            .collect();
        assert_eq!(setup.len(), 9, "{:?}", rendered.summary());
        ok(
            &chart::apply(&cp, setup, false).unwrap(),
            "applying RBAC and the cluster object",
        );

        // The AccessKey Secret the values name, created as an operator would.
        let credentials: BTreeMap<String, Vec<u8>> = [
            (
                "access-key-id".to_string(),
                secretkms_kms_emulator::DEFAULT_ACCESS_KEY_ID
                    .as_bytes()
                    .to_vec(),
            ),
            (
                "access-key-secret".to_string(),
                secretkms_kms_emulator::DEFAULT_ACCESS_KEY_SECRET
                    .as_bytes()
                    .to_vec(),
            ),
        ]
        .into();
        Api::<Secret>::namespaced(admin.clone(), NAMESPACE)
            .create(
                &PostParams::default(),
                &Secret {
                    metadata: ObjectMeta {
                        name: Some("kms-credentials".into()),
                        ..Default::default()
                    },
                    data: Some(
                        credentials
                            .iter()
                            .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                            .collect(),
                    ),
                    ..Default::default()
                },
            )
            .await
            .unwrap();

        // The pod's identity: a TokenRequest token of the chart's ServiceAccount.
        let sa_kubeconfig = cp.dir().join("chart-sa.kubeconfig");
        chart::service_account_kubeconfig(&cp, NAMESPACE, FULLNAME, &sa_kubeconfig).unwrap();

        // What only a pod has: the serving certificate for the address the apiserver will call,
        // loopback listeners, and the token. Intervals are shortened so the test is quick.
        let serving = cp
            .ca()
            .serving("secretkms-webhook", &["127.0.0.1"])
            .unwrap();
        let [port, metrics_port] = free_ports().unwrap();
        let stand_in = PodStandIn {
            secrets: [
                (
                    format!("{FULLNAME}-tls"),
                    [
                        ("tls.crt".to_string(), serving.cert_pem.into_bytes()),
                        ("tls.key".to_string(), serving.key_pem.into_bytes()),
                    ]
                    .into(),
                ),
                ("kms-credentials".to_string(), credentials),
            ]
            .into(),
            env_overrides: [
                ("SECRETKMS_LISTEN", format!("127.0.0.1:{port}")),
                (
                    "SECRETKMS_METRICS_LISTEN",
                    format!("127.0.0.1:{metrics_port}"),
                ),
                ("SECRETKMS_KUBECONFIG", sa_kubeconfig.display().to_string()),
                ("SECRETKMS_KMS_POLL_INTERVAL", "1s".into()),
                ("SECRETKMS_STATUS_INTERVAL", "1s".into()),
                ("SECRETKMS_APISERVER_PROBE_INTERVAL", "1s".into()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
            pod_name: format!("{FULLNAME}-7d9f8c6b5-x2x4q"),
        };
        let deployment = rendered.one("Deployment", None).unwrap();
        let mut webhook =
            ChartWebhook::start(&cp, WEBHOOK.as_ref(), &rendered, deployment, &stand_in).unwrap();
        webhook
            .wait_healthy(
                &format!("https://127.0.0.1:{port}/healthz"),
                &cp.ca().cert_pem(),
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        println!(
            "webhook started with env {:?} args {:?}",
            webhook.env, webhook.args
        );

        // The chart's webhook configuration, with the Service replaced by the local address.
        let mut vwc = rendered
            .one("ValidatingWebhookConfiguration", None)
            .unwrap()
            .clone();
        for w in vwc["webhooks"].as_array_mut().unwrap() {
            w["clientConfig"] = json!({
                "url": format!("https://127.0.0.1:{port}/validate"),
                "caBundle": B64.encode(cp.ca().cert_pem()),
            });
        }
        ok(
            &chart::apply(&cp, [&vwc], false).unwrap(),
            "applying the webhook configuration",
        );

        let probe = Admission::new(&cp, &admin, "registration").temp_ns().await;
        wait_called(
            &admin,
            &format!("http://127.0.0.1:{metrics_port}/metrics"),
            &probe,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}\nwebhook log:\n{}", tail(webhook.log(), 40)));
        Self {
            webhook,
            cp,
            admin,
            sa_kubeconfig,
            kms: stack.admin().clone(),
            _kms: stack,
        }
    }

    /// Every namespace it creates is guarded by the chart's webhook configuration.
    pub(super) fn admission(&self) -> Admission<'_> {
        Admission::new(&self.cp, &self.admin, "guarded").showing_log(self.webhook.log())
    }

    pub(super) fn condition(se: &SecretEncryption, type_: &str) -> Option<String> {
        se.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.clone())
    }

    /// Waits until the `cluster` object's condition `type_` has `status`, as the webhook writes it.
    pub(super) async fn wait_condition(&self, type_: &str, status: &str) -> SecretEncryption {
        let api = Api::<SecretEncryption>::all(self.admin.clone());
        eventually(
            &format!("{type_} {status}"),
            Duration::from_secs(30),
            || async {
                let se = api.get("cluster").await.map_err(|e| e.to_string())?;
                if Self::condition(&se, type_).as_deref() == Some(status) {
                    Ok(se)
                } else {
                    Err(format!(
                        "{:#?}\nwebhook log:\n{}",
                        se.status,
                        tail(self.webhook.log(), 40)
                    ))
                }
            },
        )
        .await
    }

    /// `kubectl auth can-i` as the chart's ServiceAccount.
    pub(super) fn can_i(&self, args: &[&str]) -> bool {
        let out = std::process::Command::new(self.cp.binaries().kubectl())
            .arg("--kubeconfig")
            .arg(&self.sa_kubeconfig)
            .args(["auth", "can-i"])
            .args(args)
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        match answer.as_str() {
            "yes" => true,
            "no" => false,
            other => panic!(
                "kubectl auth can-i {args:?}: {other} {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        }
    }
}
