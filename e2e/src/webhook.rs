//! The webhook as a real process next to the control plane: a serving certificate signed by the
//! control plane's CA, a ValidatingWebhookConfiguration pointing at it by URL with that CA as its
//! caBundle, and a state file the tests rewrite to change what the webhook knows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use secretkms_model::EncryptionState;

use crate::control_plane::ControlPlane;
use crate::error::{HarnessError, Result};
use crate::process::{Supervised, free_ports, lost_port_race};

/// How to run the webhook.
#[derive(Debug, Clone, Default)]
pub struct WebhookOptions {
    /// Written to the state file the webhook watches; `None` runs without a state file.
    pub state: Option<EncryptionState>,
    /// A policy configuration (YAML); `None` runs the embedded defaults.
    pub policy_config: Option<String>,
    /// Probe the apiserver's KMS health with the admin kubeconfig.
    pub apiserver_probe: bool,
    /// Watch the SecretEncryption `cluster`, poll its key in KMS, and write its status back.
    pub monitor: bool,
    /// Environment for the process (e.g. Alibaba Cloud credentials for the emulator).
    pub env: Vec<(String, String)>,
    /// Compiled policies; `None` gives each webhook its own (cold) cache. Replicas of one
    /// deployment share theirs, as pods on one node share a volume, so they start warm.
    pub policy_cache_dir: Option<PathBuf>,
    pub extra_args: Vec<String>,
}

/// A running webhook process.
#[derive(Debug)]
pub struct Webhook {
    process: Supervised,
    dir: PathBuf,
    pub port: u16,
    pub metrics_port: u16,
    /// PEM of the CA that signed the serving certificate.
    pub ca_pem: String,
}

impl Webhook {
    /// Starts `binary` (the webhook executable) and waits until `/healthz` answers over TLS.
    /// Readiness is not awaited: a webhook without known state is a valid thing to test.
    pub async fn start(cp: &ControlPlane, binary: &Path, options: WebhookOptions) -> Result<Self> {
        secretkms_alibaba::install_crypto_provider();
        let dir = tempfile::Builder::new()
            .prefix("webhook-")
            .tempdir_in(cp.dir())
            .map_err(HarnessError::io("creating the webhook's directory"))?
            .keep();
        let pair = cp
            .ca()
            .serving("secretkms-webhook", &["127.0.0.1", "localhost"])?;
        let write = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map_err(HarnessError::io(format!("writing {}", path.display())))?;
            Ok::<_, HarnessError>(path)
        };
        let cert = write("tls.crt", &pair.cert_pem)?;
        let key = write("tls.key", &pair.key_pem)?;
        let mut args = vec![
            format!("--tls-cert-file={}", cert.display()),
            format!("--tls-key-file={}", key.display()),
            format!("--apiserver-probe={}", options.apiserver_probe),
            format!("--watch-secret-encryption={}", options.monitor),
            format!("--status-writeback={}", options.monitor),
            "--kms-poll-interval=1s".into(),
            "--status-interval=1s".into(),
            format!("--kubeconfig={}", cp.kubeconfig.display()),
            "--state-file-interval=200ms".into(),
            "--cert-reload-interval=500ms".into(),
            "--apiserver-probe-interval=1s".into(),
        ];
        let cache = options
            .policy_cache_dir
            .clone()
            .unwrap_or_else(|| dir.join("policy-cache"));
        args.push(format!("--policy-cache-dir={}", cache.display()));
        if let Some(state) = &options.state {
            let path = dir.join("state.json");
            write_state(&path, state)?;
            args.push(format!("--state-file={}", path.display()));
            // Tests pin facts on purpose; the weakening stays visible in /readyz.
            args.push("--allow-weakening=state-file".into());
        }
        if let Some(config) = &options.policy_config {
            args.push(format!(
                "--policy-config={}",
                write("policies.yaml", config)?.display()
            ));
        }
        args.extend(options.extra_args.iter().cloned());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let [port, metrics_port] = free_ports()?;
            let mut listen = vec![
                format!("--listen=127.0.0.1:{port}"),
                format!("--metrics-listen=127.0.0.1:{metrics_port}"),
            ];
            listen.extend(args.iter().cloned());
            let process = Supervised::spawn_with_env(
                "secretkms-webhook",
                binary,
                &listen,
                &options.env,
                &dir.join("webhook.log"),
            )?;
            let mut webhook = Self {
                process,
                dir: dir.clone(),
                port,
                metrics_port,
                ca_pem: cp.ca().cert_pem(),
            };
            match webhook.wait_healthy().await {
                Ok(()) => return Ok(webhook),
                Err(e) if attempt < 3 && lost_port_race(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let url = format!("https://127.0.0.1:{}/healthz", self.port);
        wait_healthy(&mut self.process, &url, &self.ca_pem).await
    }

    /// Waits until `/readyz` answers 200: what a Service's endpoints wait for.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let url = format!("https://127.0.0.1:{}/readyz", self.port);
        wait_healthy(&mut self.process, &url, &self.ca_pem).await
    }

    /// The admission port's address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// An HTTPS client that trusts the webhook's CA.
    pub fn https(&self) -> Result<reqwest::Client> {
        https_client(&self.ca_pem)
    }

    /// `https://127.0.0.1:<port>/validate`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}/validate", self.port)
    }

    /// Replaces the state the webhook reads from its state file (atomically, by rename).
    pub fn set_state(&self, state: &EncryptionState) -> Result<()> {
        write_state(&self.dir.join("state.json"), state)
    }

    /// The webhook's log file.
    pub fn log(&self) -> &Path {
        &self.process.log
    }

    /// The whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.process.log).unwrap_or_default()
    }

    /// `http://127.0.0.1:<metrics port>/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://127.0.0.1:{}/metrics", self.metrics_port)
    }

    /// Admission reviews answered so far (from the webhook's own metrics).
    pub async fn reviews_answered(&self) -> Result<u64> {
        reviews_answered(&self.metrics_url()).await
    }

    /// Stops the webhook process.
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(10));
    }

    /// A configuration that sends Secret CREATE, UPDATE and DELETE in namespaces carrying
    /// `selector` (label → value) to this webhook.
    pub fn configuration(
        &self,
        name: &str,
        selector: (&str, &str),
        failure_policy: &str,
    ) -> ValidatingWebhookConfiguration {
        self.configuration_with(
            name,
            failure_policy,
            LabelSelector {
                match_labels: Some([(selector.0.to_string(), selector.1.to_string())].into()),
                ..Default::default()
            },
        )
    }

    /// Like [`Webhook::configuration`], with any namespace selector.
    pub fn configuration_with(
        &self,
        name: &str,
        failure_policy: &str,
        namespaces: LabelSelector,
    ) -> ValidatingWebhookConfiguration {
        ValidatingWebhookConfiguration {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            webhooks: Some(vec![ValidatingWebhook {
                name: "secrets.secretkms.io".into(),
                client_config: WebhookClientConfig {
                    url: Some(self.url()),
                    ca_bundle: Some(ByteString(self.ca_pem.as_bytes().to_vec())),
                    ..Default::default()
                },
                rules: Some(vec![RuleWithOperations {
                    api_groups: Some(vec!["".into()]),
                    api_versions: Some(vec!["v1".into()]),
                    operations: Some(vec!["CREATE".into(), "UPDATE".into(), "DELETE".into()]),
                    resources: Some(vec!["secrets".into()]),
                    scope: Some("Namespaced".into()),
                }]),
                admission_review_versions: vec!["v1".into()],
                side_effects: "None".into(),
                timeout_seconds: Some(5),
                failure_policy: Some(failure_policy.into()),
                match_policy: Some("Equivalent".into()),
                namespace_selector: Some(namespaces),
                ..Default::default()
            }]),
        }
    }
}

/// Adds a second webhook to `config` for CREATE, UPDATE and DELETE of the cluster-scoped
/// `secretencryptions.secretkms.io` (the key-change guard's resource), as the chart does.
pub fn with_secret_encryption_rule(
    mut config: ValidatingWebhookConfiguration,
) -> ValidatingWebhookConfiguration {
    let webhooks = config.webhooks.get_or_insert_with(Vec::new);
    let mut guard = webhooks
        .first()
        .cloned()
        .expect("a configuration with one webhook");
    guard.name = "secretencryptions.secretkms.io".into();
    guard.namespace_selector = None;
    guard.rules = Some(vec![RuleWithOperations {
        api_groups: Some(vec!["secretkms.io".into()]),
        api_versions: Some(vec!["v1alpha1".into()]),
        operations: Some(vec!["CREATE".into(), "UPDATE".into(), "DELETE".into()]),
        resources: Some(vec!["secretencryptions".into()]),
        scope: Some("Cluster".into()),
    }]);
    webhooks.push(guard);
    config
}

/// `config` with every webhook's URL replaced by `https://<addr>/validate`: the same serving
/// certificate (issued for 127.0.0.1) is reached through something in front of it.
pub fn reached_at(
    mut config: ValidatingWebhookConfiguration,
    addr: std::net::SocketAddr,
) -> ValidatingWebhookConfiguration {
    for webhook in config.webhooks.iter_mut().flatten() {
        webhook.client_config.url = Some(format!("https://{addr}/validate"));
    }
    config
}

/// A namespace selector that excludes the named namespaces, as a production configuration does
/// for kube-system and the webhook's own namespace.
pub fn excluding_namespaces(names: &[&str]) -> LabelSelector {
    LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".into(),
            operator: "NotIn".into(),
            values: Some(names.iter().map(|s| s.to_string()).collect()),
        }]),
        ..Default::default()
    }
}

/// Registers a configuration and waits until the apiserver really calls the webhook (see
/// [`wait_called`]). `probe_namespace` must be selected by the configuration.
pub async fn register(
    client: &Client,
    webhook: &Webhook,
    config: &ValidatingWebhookConfiguration,
    probe_namespace: &str,
) -> Result<()> {
    let api = Api::<ValidatingWebhookConfiguration>::all(client.clone());
    api.create(&PostParams::default(), config).await?;
    wait_called(client, &webhook.metrics_url(), probe_namespace).await
}

/// Waits until the apiserver calls the webhook whose metrics are at `metrics_url` for a Secret
/// written in `probe_namespace`: the admission plugin picks configurations up through an
/// informer, so creating one is not enough. The probes are dry-run creates.
pub async fn wait_called(client: &Client, metrics_url: &str, probe_namespace: &str) -> Result<()> {
    let secrets = Api::<Secret>::namespaced(client.clone(), probe_namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let probe = Secret {
        metadata: ObjectMeta {
            name: Some("secretkms-registration-probe".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let before = reviews_answered(metrics_url).await?;
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(30) {
        let _ = secrets.create(&dry_run, &probe).await;
        if reviews_answered(metrics_url).await? > before {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(HarnessError::Webhook(format!(
        "the apiserver did not call the webhook within 30s for a Secret in {probe_namespace}"
    )))
}

/// An HTTPS client that trusts `ca_pem` and nothing else.
pub fn https_client(ca_pem: &str) -> Result<reqwest::Client> {
    secretkms_alibaba::install_crypto_provider();
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())
        .map_err(|e| HarnessError::Webhook(e.to_string()))?;
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .map_err(|e| HarnessError::Webhook(e.to_string()))
}

/// How long a starting webhook may take to serve: a debug build compiles its policies with
/// Cranelift when the artefact cache is cold, and a test binary starts a dozen at once on CI's
/// two cores (30 s was seen to run out there).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits up to [`START_TIMEOUT`] until `url` (an HTTPS health endpoint of `process`) answers 2xx,
/// trusting `ca_pem`; fails at once with the log's tail when the process exits.
pub(crate) async fn wait_healthy(process: &mut Supervised, url: &str, ca_pem: &str) -> Result<()> {
    let http = https_client(ca_pem)?;
    let since = Instant::now();
    let mut last_error = String::from("not yet polled");
    while since.elapsed() < START_TIMEOUT {
        process.check_alive()?;
        match http.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last_error = format!("{url} answered {}", r.status()),
            Err(e) => last_error = format!("{e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(process.not_ready(since, last_error))
}

fn write_state(path: &Path, state: &EncryptionState) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let json = serde_json::to_vec_pretty(state).expect("state serializes");
    std::fs::write(&tmp, json).map_err(HarnessError::io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, path).map_err(HarnessError::io(format!("renaming to {}", path.display())))
}

/// The caBundle form of a PEM (base64), for YAML manifests.
pub fn ca_bundle(pem: &str) -> String {
    B64.encode(pem)
}

/// Sums `secretkms_admission_requests_total` from a webhook's metrics endpoint at `url`.
pub async fn reviews_answered(url: &str) -> Result<u64> {
    let text = reqwest::get(url)
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| HarnessError::Webhook(format!("reading webhook metrics: {e}")))?
        .text()
        .await
        .map_err(|e| HarnessError::Webhook(e.to_string()))?;
    Ok(text
        .lines()
        .filter(|l| l.starts_with("secretkms_admission_requests_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64)
}
