//! The installed chart guards Secrets as its ServiceAccount and no more: the monitor writes the
//! `cluster` status and Events, a disabled key denies Secret writes with the fix, the excluded
//! namespaces and DELETE pass, the key-change guard refuses an unknown key, and the
//! ServiceAccount may do exactly what the monitor uses.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use secretkms_core::secret_encryption::SecretEncryption;
use secretkms_e2e::fixtures::{MARKER, secret};
use serde_json::{Value, json};

use super::installed::Installed;
use super::{FULLNAME, KEY_ALIAS, NAMESPACE, ok};

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
    let admission = t.admission();
    let healthy = admission.accepts(|_| secret("while-healthy")).await;

    // The key is disabled in KMS: within a poll, writes are denied with the reason and the fix.
    t.kms.disable(KEY_ALIAS).await.unwrap();
    t.wait_condition("KeyUsable", "False").await;
    let denied = admission.rejects(|_| secret("while-disabled")).await;
    assert!(
        denied.contains("Disabled") && denied.contains("EnableKey"),
        "{denied}"
    );
    assert!(!denied.contains(MARKER));

    // Never sent to the webhook: kube-system, the release namespace, and DELETE.
    for excluded in ["kube-system", NAMESPACE] {
        admission.accepts_in(excluded, |_| secret("excluded")).await;
    }
    Api::<Secret>::namespaced(t.admin.clone(), &healthy.namespace().unwrap())
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
    t.kms.enable(KEY_ALIAS).await.unwrap();
    t.wait_condition("KeyUsable", "True").await;
    t.wait_condition("Ready", "True").await;
    let after = admission.accepts(|_| secret("after-enable")).await;
    let ns = after.namespace().unwrap();

    // Enough, and no more: what the ServiceAccount may do is exactly what the monitor uses.
    let canary = format!("secrets/{FULLNAME}-canary");
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
        &["get", "/readyz"],
        &["get", "/readyz/kms-providers"],
        &["get", "/readyz/kms-provider-0"],
        &["get", "/metrics"],
        &["get", &canary, "-n", NAMESPACE],
        &["patch", &canary, "-n", NAMESPACE],
    ];
    let denied_actions: &[&[&str]] = &[
        &["get", "secrets", "-n", NAMESPACE],
        &["list", "secrets", "--all-namespaces"],
        &["watch", "secrets", "-n", ns.as_str()],
        &["create", "secrets", "-n", NAMESPACE],
        &["patch", "secrets/other", "-n", NAMESPACE],
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
        // (/readyz itself is public: system:public-info-viewer grants it to everyone. /metrics is
        // granted above: its Secret-write counters say which provider writes Secrets.)
        &["get", "/debug/pprof/profile"],
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
