//! Every `ci/*-values.yaml` rendering on the shared apiserver: each manifest is accepted by a
//! server-side dry run, and each rendering holds what every rendering must (webhook settings,
//! excluded namespaces, a hardened pod, only flags the webhook reads, a caBundle that is the CA
//! of the serving certificate).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use secretkms_e2e::ControlPlane;
use secretkms_e2e::chart::{self, Rendered};
use secretkms_e2e::fixtures::established;
use serde_json::{Value, json};

use super::{FULLNAME, NAMESPACE, RELEASE, WEBHOOK, name_of, ok, openssl_verify};

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

#[tokio::test]
async fn every_ci_rendering_is_accepted_by_the_apiserver() {
    let cp = ControlPlane::shared();
    let client = cp.client().await.unwrap();
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
    established(
        &client,
        &[
            "secretencryptions.secretkms.io",
            "servicemonitors.monitoring.coreos.com",
            "prometheusrules.monitoring.coreos.com",
            "certificates.cert-manager.io",
            "issuers.cert-manager.io",
        ],
    )
    .await;

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
    // mTLS: the CA is mounted and named, and the kubelet (which has no client certificate)
    // probes the metrics port instead.
    let env = |name: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| e["value"].clone())
    };
    let client_ca = env("SECRETKMS_CLIENT_CA_FILE");
    if case == "client-ca" {
        assert_eq!(
            client_ca,
            Some(json!("/etc/secretkms/client-ca/ca.crt")),
            "{case}"
        );
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "client-ca")
            .unwrap_or_else(|| panic!("{case}: no client-ca volume"));
        assert_eq!(volume["configMap"]["name"], "apiserver-client-ca", "{case}");
        for probe in ["readinessProbe", "livenessProbe"] {
            assert_eq!(
                c[probe]["httpGet"]["port"], "http-metrics",
                "{case}: {probe}"
            );
        }
    } else {
        assert_eq!(client_ca, None, "{case}: no client CA unless asked");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "https", "{case}");
    }
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
    "SECRETKMS_ALLOW_WEAKENING",
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
    "SECRETKMS_MAX_CONNECTIONS",
    "SECRETKMS_HEADER_READ_TIMEOUT",
    "SECRETKMS_SECRET_WRITERS",
    "SECRETKMS_CANARY_SECRET",
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
