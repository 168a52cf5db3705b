//! The Helm chart on the real apiserver: it lints, renders for every `ci/*-values.yaml`, every
//! rendered manifest is accepted by the apiserver, upgrades keep its certificates, and its
//! rendered configuration — webhook configuration, RBAC, ServiceAccount, the `cluster` object and
//! the Deployment's arguments and environment — really guards Secrets with a webhook that runs
//! as the chart's ServiceAccount and no more.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use secretkms_core::secret_encryption::SecretEncryption;
use secretkms_e2e::chart::{self, ChartWebhook, PodStandIn, Rendered};
use secretkms_e2e::process::free_port;
use secretkms_e2e::{ControlPlane, Encryption, Options};
use serde_json::{Value, json};

const WEBHOOK: &str = env!("CARGO_BIN_EXE_secretkms-webhook-e2e");
const RELEASE: &str = "skms";
const NAMESPACE: &str = "secretkms";
const FULLNAME: &str = "skms-secretkms";
const KEY_ALIAS: &str = "alias/k8s-secrets";

fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn lints_strict_with_every_ci_values_file_and_refuses_bad_values() {
    let cp = ControlPlane::shared();
    let chart = chart::chart_dir();
    let files = chart::ci_values_files().unwrap();
    assert!(files.len() >= 6, "ci values files: {files:?}");
    for file in &files {
        let out = chart::helm(
            cp,
            &[
                "lint",
                "--strict",
                chart.to_str().unwrap(),
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .unwrap();
        ok(&out, &format!("helm lint --strict -f {}", name_of(file)));
    }

    // A typo fails the install through values.schema.json, naming the key.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "webhook.failurPolicy=Fail",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("failurPolicy") && err.contains("not allowed"),
        "{err}"
    );
    // A wrong enum value too.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "webhook.failurePolicy=Never",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("failurePolicy"), "{err}");
    // No key to guard: refused with the fix, rather than a webhook guarding nothing.
    let err = chart::template(cp, RELEASE, NAMESPACE, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("secretEncryption.key is required"), "{err}");
    // Both credential kinds at once: refused.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "credentials.rrsa.enabled=true",
            "--set",
            "credentials.rrsa.roleName=r",
            "--set",
            "credentials.accessKey.existingSecret=s",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("choose one"), "{err}");
}

/// Minimal CRDs for the optional kinds whose operators are not installed here. They accept any
/// spec, so the apiserver checks these manifests' envelope (apiVersion, kind, metadata, names)
/// but not their fields.
fn stand_in_crd(group: &str, kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": { "name": format!("{plural}.{group}") },
        "spec": {
            "group": group,
            "names": { "kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List") },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": { "openAPIV3Schema": { "type": "object", "x-kubernetes-preserve-unknown-fields": true } }
            }]
        }
    })
}

fn wait_established(cp: &ControlPlane, crds: &[&str]) {
    let mut args = vec!["wait", "--for=condition=Established", "--timeout=60s"];
    let names: Vec<String> = crds.iter().map(|c| format!("crd/{c}")).collect();
    args.extend(names.iter().map(String::as_str));
    ok(
        &cp.kubectl().args(&args).output().unwrap(),
        "kubectl wait for CRDs",
    );
}

#[test]
fn every_ci_rendering_is_accepted_by_the_apiserver() {
    let cp = ControlPlane::shared();
    // The chart's own CRD, for real, as helm installs it from crds/.
    let base =
        chart::template(cp, RELEASE, NAMESPACE, &["--set", "secretEncryption.key=k"]).unwrap();
    let crd = base
        .one(
            "CustomResourceDefinition",
            Some("secretencryptions.secretkms.io"),
        )
        .unwrap();
    ok(
        &chart::apply(cp, [crd], false).unwrap(),
        "applying the chart's CRD",
    );
    let stand_ins = [
        stand_in_crd("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
        stand_in_crd("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
        stand_in_crd("cert-manager.io", "Certificate", "certificates"),
        stand_in_crd("cert-manager.io", "Issuer", "issuers"),
    ];
    println!(
        "ServiceMonitor, PrometheusRule, Certificate and Issuer are checked against stand-in CRDs \
         (any spec accepted): the Prometheus Operator and cert-manager are not installed here"
    );
    ok(
        &chart::apply(cp, &stand_ins, false).unwrap(),
        "applying stand-in CRDs",
    );
    wait_established(
        cp,
        &[
            "secretencryptions.secretkms.io",
            "servicemonitors.monitoring.coreos.com",
            "prometheusrules.monitoring.coreos.com",
            "certificates.cert-manager.io",
            "issuers.cert-manager.io",
        ],
    );

    for file in chart::ci_values_files().unwrap() {
        let case = name_of(&file).trim_end_matches("-values.yaml").to_string();
        let ns = format!("chart-ci-{case}");
        let _ = cp.kubectl().args(["create", "namespace", &ns]).output();
        let rendered = chart::template(cp, RELEASE, &ns, &["-f", file.to_str().unwrap()]).unwrap();
        let kinds: Vec<&str> = rendered
            .docs
            .iter()
            .filter_map(|d| d["kind"].as_str())
            .collect();
        for must in [
            "Deployment",
            "Service",
            "ValidatingWebhookConfiguration",
            "ClusterRole",
            "ServiceAccount",
        ] {
            assert!(
                kinds.contains(&must),
                "{case}: no {must} in {:?}",
                rendered.summary()
            );
        }
        let docs: Vec<&Value> = rendered
            .docs
            .iter()
            .filter(|d| d["kind"] != "CustomResourceDefinition")
            .collect();
        let out = chart::apply(cp, docs, true).unwrap();
        let stdout = ok(&out, &format!("server-side dry run of {case}"));
        println!(
            "{case}: {} manifests accepted: {}",
            rendered.docs.len(),
            rendered.summary().join(", ")
        );
        assert_eq!(
            stdout
                .lines()
                .filter(|l| l.contains("serverside-applied"))
                .count(),
            rendered.docs.len() - 1,
            "{case}: every manifest applied (dry run):\n{stdout}"
        );
        check_rendering(&case, &rendered, &ns);
    }
}

/// What every rendering must hold, whatever its values.
fn check_rendering(case: &str, r: &Rendered, ns: &str) {
    let vwc = r.one("ValidatingWebhookConfiguration", None).unwrap();
    for w in vwc["webhooks"].as_array().unwrap() {
        assert_eq!(w["sideEffects"], "None", "{case}");
        assert_eq!(w["admissionReviewVersions"], json!(["v1"]), "{case}");
        assert!(
            w["timeoutSeconds"].as_u64().unwrap() <= 10,
            "{case}: short timeout"
        );
    }
    let secrets = &vwc["webhooks"][0];
    assert_eq!(secrets["rules"][0]["resources"], json!(["secrets"]));
    assert_eq!(
        secrets["rules"][0]["operations"],
        json!(["CREATE", "UPDATE"])
    );
    let excluded = &secrets["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["operator"], "NotIn");
    for must in ["kube-system", ns] {
        assert!(
            excluded["values"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v == must),
            "{case}: {must} must be excluded: {excluded}"
        );
    }
    let deployment = r.one("Deployment", None).unwrap();
    let pod = &deployment["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{case}");
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
        "{case}"
    );
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"], true,
        "{case}"
    );
    assert_eq!(
        c["securityContext"]["allowPrivilegeEscalation"], false,
        "{case}"
    );
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        json!(["ALL"]),
        "{case}"
    );
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz", "{case}");
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz", "{case}");
    assert!(
        c["lifecycle"]["preStop"]["sleep"]["seconds"]
            .as_u64()
            .unwrap()
            > 0,
        "{case}"
    );
    assert!(
        c["resources"]["requests"].is_object() && c["resources"]["limits"].is_object(),
        "{case}"
    );
    assert_eq!(
        deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0,
        "{case}"
    );
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    assert_eq!(
        replicas > 1,
        r.of_kind("PodDisruptionBudget").count() == 1,
        "{case}: a PDB exactly when replicas > 1"
    );
    // Every flag the chart sets is a real flag of the binary (env is how the chart sets them).
    for var in c["env"].as_array().unwrap() {
        let name = var["name"].as_str().unwrap();
        assert!(
            !name.starts_with("SECRETKMS_") || WEBHOOK_ENV.contains(&name),
            "{case}: the chart sets {name}, which the webhook does not read"
        );
    }
    // Self-managed TLS: the caBundle is the CA that signed the serving certificate, whose names
    // are the Service's.
    if let Ok(tls) = r.one("Secret", Some(&format!("{RELEASE}-secretkms-tls"))) {
        let pem = |v: &Value| String::from_utf8(B64.decode(v.as_str().unwrap()).unwrap()).unwrap();
        let ca = pem(&tls["data"]["ca.crt"]);
        let bundle = pem(&secrets["clientConfig"]["caBundle"]);
        assert_eq!(ca, bundle, "{case}: caBundle is the CA");
        openssl_verify(
            &ca,
            &pem(&tls["data"]["tls.crt"]),
            &format!("{FULLNAME}.{ns}.svc"),
        );
    }
}

/// The SECRETKMS_* variables the webhook reads (webhook/src/args.rs), checked against the
/// binary's own --help below so this list cannot go stale.
const WEBHOOK_ENV: &[&str] = &[
    "SECRETKMS_LISTEN",
    "SECRETKMS_METRICS_LISTEN",
    "SECRETKMS_TLS_CERT_FILE",
    "SECRETKMS_TLS_KEY_FILE",
    "SECRETKMS_CLIENT_CA_FILE",
    "SECRETKMS_CERT_RELOAD_INTERVAL",
    "SECRETKMS_POLICY_CONFIG",
    "SECRETKMS_POLICY_CACHE_DIR",
    "SECRETKMS_STATE_FILE",
    "SECRETKMS_STATE_FILE_INTERVAL",
    "SECRETKMS_APISERVER_PROBE",
    "SECRETKMS_APISERVER_PROBE_INTERVAL",
    "SECRETKMS_KUBECONFIG",
    "SECRETKMS_WATCH_SECRET_ENCRYPTION",
    "SECRETKMS_KMS_ENDPOINT",
    "SECRETKMS_KMS_VPC",
    "SECRETKMS_KMS_POLL_INTERVAL",
    "SECRETKMS_STATUS_WRITEBACK",
    "SECRETKMS_STATUS_INTERVAL",
    "SECRETKMS_POD_NAME",
    "SECRETKMS_MAX_CONCURRENT_EVALUATIONS",
    "SECRETKMS_MAX_BODY_BYTES",
    "SECRETKMS_DEFAULT_TIMEOUT",
    "SECRETKMS_SHUTDOWN_GRACE",
    "SECRETKMS_LOG",
    "SECRETKMS_LOG_FORMAT",
];

#[test]
fn the_env_list_matches_the_binarys_help() {
    let out = std::process::Command::new(WEBHOOK)
        .arg("--help")
        .output()
        .unwrap();
    let help = ok(&out, "secretkms-webhook --help");
    let mut in_help: Vec<&str> = help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("SECRETKMS_"))
        .collect();
    in_help.sort();
    in_help.dedup();
    let mut listed = WEBHOOK_ENV.to_vec();
    listed.sort();
    assert_eq!(in_help, listed);
}

fn openssl_verify(ca_pem: &str, leaf_pem: &str, dns_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "verify",
            "-CAfile",
            "ca.pem",
            "-verify_hostname",
            dns_name,
            "leaf.pem",
        ])
        .output()
        .expect("openssl is installed");
    ok(
        &out,
        &format!("openssl verify of the serving certificate for {dns_name}"),
    );
}

fn secret_data(v: &Value, key: &str) -> String {
    v["data"][key].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn helm_upgrade_keeps_the_ca_and_certificate_and_renews_only_when_due() {
    // Its own control plane: the release registers a cluster-wide webhook configuration.
    let cp = ControlPlane::start(Options::default()).await.unwrap();
    let chart_path = chart::chart_dir();
    let chart_path = chart_path.to_str().unwrap();
    let default_values = chart::chart_dir().join("ci/default-values.yaml");
    let values = default_values.to_str().unwrap();
    let install = |extra: &[&str]| {
        let mut args = vec![
            "upgrade",
            "--install",
            RELEASE,
            chart_path,
            "-n",
            NAMESPACE,
            "--create-namespace",
            "-f",
            values,
        ];
        args.extend_from_slice(extra);
        ok(
            &chart::helm(&cp, &args).unwrap(),
            &format!("helm {}", args.join(" ")),
        )
    };
    let read = || {
        let get = |what: &str| -> Value {
            let out = cp
                .kubectl()
                .args(["get", what, "-o", "json", "-n", NAMESPACE])
                .output()
                .unwrap();
            serde_json::from_str(&ok(&out, &format!("kubectl get {what}"))).unwrap()
        };
        let tls = get(&format!("secret/{FULLNAME}-tls"));
        let ca = get(&format!("secret/{FULLNAME}-ca"));
        let vwc = get(&format!("validatingwebhookconfiguration/{FULLNAME}"));
        (
            secret_data(&ca, "tls.crt"),
            secret_data(&tls, "tls.crt"),
            vwc["webhooks"][0]["clientConfig"]["caBundle"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    };
    install(&[]);
    let (ca1, leaf1, bundle1) = read();
    assert_eq!(ca1, bundle1, "the caBundle is the stored CA");

    install(&["--set", "log.level=debug"]);
    let (ca2, leaf2, bundle2) = read();
    assert_eq!(
        (&ca1, &leaf1, &bundle1),
        (&ca2, &leaf2, &bundle2),
        "an upgrade changes no certificate"
    );

    // Due for renewal (365-day certificate, renew 400 days before expiry): a new serving
    // certificate from the same CA, so the caBundle stays.
    install(&["--set", "tls.helm.renewBeforeDays=400"]);
    let (ca3, leaf3, bundle3) = read();
    assert_eq!(ca1, ca3, "the CA is kept");
    assert_eq!(bundle1, bundle3, "the caBundle is kept");
    assert_ne!(leaf1, leaf3, "the serving certificate is renewed");
    let pem = |b: &str| String::from_utf8(B64.decode(b).unwrap()).unwrap();
    openssl_verify(
        &pem(&ca3),
        &pem(&leaf3),
        &format!("{FULLNAME}.{NAMESPACE}.svc"),
    );

    // The `cluster` object outlives the release: deleting it would switch the guard off.
    ok(
        &chart::helm(&cp, &["uninstall", RELEASE, "-n", NAMESPACE]).unwrap(),
        "helm uninstall",
    );
    let out = cp
        .kubectl()
        .args(["get", "secretencryption", "cluster"])
        .output()
        .unwrap();
    ok(&out, "the cluster SecretEncryption is kept after uninstall");
}

/// The chart's rendered configuration on a real apiserver with encryption configured, a KMS (the
/// emulator) holding the key, and the webhook running as the chart's ServiceAccount with the
/// Deployment's environment.
struct Installed {
    cp: ControlPlane,
    admin: Client,
    webhook: ChartWebhook,
    sa_kubeconfig: std::path::PathBuf,
    kms: secretkms_kms_emulator::Running,
    metrics_url: String,
}

impl Installed {
    async fn new() -> Self {
        let cp = ControlPlane::start(Options {
            encryption: Encryption::AesCbc {
                key_name: "key1".into(),
            },
            ..Default::default()
        })
        .await
        .unwrap();
        let admin = cp.client().await.unwrap();
        let kms = secretkms_kms_emulator::start(secretkms_kms_emulator::EmulatorConfig {
            seed_keys: vec![
                format!(
                    "alias={},spec=Aliyun_AES_256,rotation=365d,protection=on",
                    KEY_ALIAS.trim_start_matches("alias/")
                )
                .parse()
                .unwrap(),
            ],
            ..Default::default()
        })
        .await
        .unwrap();

        let values = chart::chart_dir().join("ci/default-values.yaml");
        let endpoint = format!("kms.endpoint={}", kms.url);
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

        // Namespace, CRD, RBAC, ServiceAccount and the `cluster` object, for real.
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
        wait_established(&cp, &["secretencryptions.secretkms.io"]);
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
            })
            .collect();
        assert_eq!(setup.len(), 6, "{:?}", rendered.summary());
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
        let (port, metrics_port) = (free_port().unwrap(), free_port().unwrap());
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

        let installed = Self {
            cp,
            admin,
            webhook,
            sa_kubeconfig,
            kms,
            metrics_url: format!("http://127.0.0.1:{metrics_port}/metrics"),
        };
        installed.wait_registered().await;
        installed
    }

    /// Waits until the apiserver calls the webhook: configurations reach the admission plugin
    /// through an informer.
    async fn wait_registered(&self) {
        let ns = self.guarded_namespace("registration").await;
        let secrets = Api::<Secret>::namespaced(self.admin.clone(), &ns);
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let before = chart::reviews_answered(&self.metrics_url).await.unwrap();
        let since = Instant::now();
        while since.elapsed() < Duration::from_secs(30) {
            let _ = secrets.create(&dry_run, &secret("probe")).await;
            if chart::reviews_answered(&self.metrics_url).await.unwrap() > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the apiserver never called the webhook\n{}",
            self.webhook.log_text()
        );
    }

    async fn guarded_namespace(&self, purpose: &str) -> String {
        self.cp.namespace(&self.admin, purpose).await.unwrap()
    }

    async fn create(&self, ns: &str, name: &str) -> Result<Secret, kube::Error> {
        Api::<Secret>::namespaced(self.admin.clone(), ns)
            .create(&PostParams::default(), &secret(name))
            .await
    }

    async fn cluster(&self) -> SecretEncryption {
        Api::<SecretEncryption>::all(self.admin.clone())
            .get("cluster")
            .await
            .unwrap()
    }

    fn condition(se: &SecretEncryption, type_: &str) -> Option<String> {
        se.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .map(|c| c.status.clone())
    }

    /// Waits until the `cluster` object's condition `type_` has `status`, as the webhook writes it.
    async fn wait_condition(&self, type_: &str, status: &str) -> SecretEncryption {
        let since = Instant::now();
        loop {
            let se = self.cluster().await;
            if Self::condition(&se, type_).as_deref() == Some(status) {
                return se;
            }
            if since.elapsed() > Duration::from_secs(30) {
                panic!(
                    "{type_} never became {status}: {:#?}\nwebhook log:\n{}",
                    se.status,
                    self.webhook.log_text()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `kubectl auth can-i` as the chart's ServiceAccount.
    fn can_i(&self, args: &[&str]) -> bool {
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

    async fn emulator(&self, action: &str) {
        let url = format!("{}/_emulator/{action}?key={KEY_ALIAS}", self.kms.url);
        reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

fn secret(name: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        string_data: Some([("password".to_string(), "s3cr3t".to_string())].into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_rendered_chart_guards_secrets_as_its_service_account_and_no_more() {
    let t = Installed::new().await;

    // The monitor, as the ServiceAccount: it watched the `cluster` object, described the key in
    // KMS, probed /readyz/kms-providers, and wrote all of it to the status.
    let se = t.wait_condition("Ready", "True").await;
    for c in ["KeyUsable", "ProviderHealthy"] {
        assert_eq!(
            Installed::condition(&se, c).as_deref(),
            Some("True"),
            "{c}: {:#?}",
            se.status
        );
    }
    assert_eq!(
        se.status.as_ref().unwrap().key.as_ref().unwrap().state_name,
        "Enabled"
    );
    assert!(
        !t.webhook.log_text().contains("forbidden"),
        "no RBAC refusals:\n{}",
        t.webhook.log_text()
    );

    // And recorded Events in `default` for the cluster-scoped object.
    let events =
        t.cp.kubectl()
            .args(["get", "events.events.k8s.io", "-n", "default", "-o", "json"])
            .output()
            .unwrap();
    let events: Value = serde_json::from_str(&ok(&events, "kubectl get events")).unwrap();
    let ours: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["reportingController"] == "secretkms-webhook" && e["regarding"]["name"] == "cluster"
        })
        .collect();
    assert!(!ours.is_empty(), "the webhook's Events: {events:#}");

    // Healthy: Secret writes are admitted in a guarded namespace.
    let ns = t.guarded_namespace("guarded").await;
    t.create(&ns, "while-healthy")
        .await
        .expect("admitted while the key is Enabled");

    // The key is disabled in KMS: within a poll, writes are denied with the reason and the fix.
    t.emulator("disable").await;
    t.wait_condition("KeyUsable", "False").await;
    let denied = match t.create(&ns, "while-disabled").await {
        Err(kube::Error::Api(s)) => s,
        other => panic!("expected a denial, got {other:?}"),
    };
    assert_eq!(denied.code, 403, "{denied:?}");
    assert!(
        denied.message.contains("Disabled") && denied.message.contains("EnableKey"),
        "{}",
        denied.message
    );
    assert!(!denied.message.contains("s3cr3t"));

    // Never sent to the webhook: kube-system, the release namespace, and DELETE.
    for excluded in ["kube-system", NAMESPACE] {
        t.create(excluded, "excluded")
            .await
            .unwrap_or_else(|e| panic!("{excluded} is excluded by the chart: {e}"));
    }
    Api::<Secret>::namespaced(t.admin.clone(), &ns)
        .delete("while-healthy", &DeleteParams::default())
        .await
        .expect("DELETE is admitted with a disabled key");

    // The key-change guard on the SecretEncryption: a switch to a key KMS does not know is denied.
    let patch = json!({ "spec": { "key": "key-does-not-exist-0000" } });
    match Api::<SecretEncryption>::all(t.admin.clone())
        .patch("cluster", &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Err(kube::Error::Api(s)) => assert!(
            s.message.contains("key-does-not-exist-0000"),
            "{}",
            s.message
        ),
        other => panic!("switching to a missing key must be denied, got {other:?}"),
    }

    // Re-enabled: admitted again.
    t.emulator("enable").await;
    t.wait_condition("KeyUsable", "True").await;
    t.wait_condition("Ready", "True").await;
    t.create(&ns, "after-enable").await.expect("admitted again");

    // Enough, and no more: what the ServiceAccount may do is exactly what the monitor uses.
    let allowed: &[&[&str]] = &[
        &["get", "secretencryptions.secretkms.io/cluster"],
        &["watch", "secretencryptions.secretkms.io/cluster"],
        &["list", "secretencryptions.secretkms.io/cluster"],
        &[
            "patch",
            "secretencryptions.secretkms.io/cluster",
            "--subresource=status",
        ],
        &["create", "events.events.k8s.io", "-n", "default"],
        &["patch", "events.events.k8s.io", "-n", "default"],
        &["get", "/readyz/kms-providers"],
    ];
    let denied_actions: &[&[&str]] = &[
        &["get", "secrets", "-n", NAMESPACE],
        &["list", "secrets", "--all-namespaces"],
        &["watch", "secrets", "-n", ns.as_str()],
        &["create", "secrets", "-n", NAMESPACE],
        &["get", "secretencryptions.secretkms.io/other"],
        &["list", "secretencryptions.secretkms.io"],
        &["update", "secretencryptions.secretkms.io/cluster"],
        &["patch", "secretencryptions.secretkms.io/cluster"],
        &["delete", "secretencryptions.secretkms.io/cluster"],
        &["create", "secretencryptions.secretkms.io"],
        &["create", "events.events.k8s.io", "-n", NAMESPACE],
        &["create", "events", "-n", "default"],
        &["get", "configmaps", "-n", NAMESPACE],
        &["patch", "validatingwebhookconfigurations"],
        &["create", "serviceaccounts/token", "-n", NAMESPACE],
        // (/readyz itself is public: system:public-info-viewer grants it to everyone.)
        &["get", "/metrics"],
        &["*", "*"],
    ];
    for a in allowed {
        assert!(t.can_i(a), "the ServiceAccount needs: {a:?}");
    }
    for a in denied_actions {
        assert!(!t.can_i(a), "the ServiceAccount must not: {a:?}");
    }
    // And the apiserver agrees for a real request: reading a Secret as the ServiceAccount fails.
    let sa = secretkms_e2e::kubeconfig::client(&t.sa_kubeconfig)
        .await
        .unwrap();
    match Api::<Secret>::namespaced(sa, &ns).get("after-enable").await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 403, "{s:?}"),
        other => panic!("the ServiceAccount read a Secret: {other:?}"),
    }
}
