//! `helm upgrade` keeps the chart's self-managed CA and serving certificate, renews the
//! certificate only when due (from the same CA, so the caBundle stays), and `helm uninstall`
//! keeps the `cluster` SecretEncryption (deleting it would switch the guard off).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use secretkms_e2e::chart;
use secretkms_e2e::{ControlPlane, Options};
use serde_json::Value;

use super::{FULLNAME, NAMESPACE, RELEASE, ok, openssl_verify};

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
