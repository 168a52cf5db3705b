//! The webhook on the real control plane: the apiserver calls it over TLS for every Secret
//! write in the test namespaces, and its policies decide from the state it knows.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{DeleteParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use secretkms_e2e::fixtures::{Admission, KEY, MARKER, disabled, healthy, secret, with_key};
use secretkms_e2e::webhook::{excluding_namespaces, reached_at, register};
use secretkms_e2e::{ControlPlane, Options, TcpProxy, Webhook, WebhookOptions};
use secretkms_model::{ApiserverFacts, EncryptionState, KeyState, KmsCheck};

const WEBHOOK: &str = env!("CARGO_BIN_EXE_secretkms-webhook-e2e");
const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-plugin-e2e");

/// One webhook, registered for the namespaces labelled `secretkms-webhook=<purpose>`: those
/// its [`Admission`] creates.
struct Guarded {
    cp: &'static ControlPlane,
    webhook: Webhook,
    admission: Admission<'static>,
}

impl Guarded {
    async fn new(purpose: &str, options: WebhookOptions, failure_policy: &str) -> Self {
        let cp = ControlPlane::shared();
        let client = cp.client().await.unwrap();
        let webhook = Webhook::start(cp, WEBHOOK.as_ref(), options).await.unwrap();
        let admission = Admission::new(cp, &client, purpose)
            .labelled("secretkms-webhook", purpose)
            .showing_log(webhook.log());
        let config = webhook.configuration(
            &format!("secretkms-{purpose}"),
            ("secretkms-webhook", purpose),
            failure_policy,
        );
        register(&client, &webhook, &config, &admission.temp_ns().await)
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", webhook.log_text()));
        Self {
            cp,
            webhook,
            admission,
        }
    }

    /// The Secrets of the namespace `created` lives in.
    fn secrets_of(&self, created: &Secret) -> Api<Secret> {
        Api::namespaced(
            self.admission.client().clone(),
            &created.namespace().unwrap(),
        )
    }

    /// kubectl, as a person would run it, in a fresh guarded namespace.
    async fn kubectl(&self, args: &[&str]) -> Output {
        let ns = self.admission.temp_ns().await;
        self.cp
            .kubectl()
            .args(["-n", &ns])
            .args(args)
            .output()
            .unwrap()
    }

    async fn set_state(&self, state: &EncryptionState) {
        self.webhook.set_state(state).unwrap();
        // The file is polled every 200 ms.
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
}

fn state_file(state: EncryptionState) -> WebhookOptions {
    WebhookOptions {
        state: Some(state),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_healthy_state_admits_secret_create_and_update() {
    let g = Guarded::new("healthy", state_file(healthy()), "Fail").await;
    let app = g.admission.accepts(|_| secret("app")).await;
    let patch = serde_json::json!({ "metadata": { "labels": { "tier": "db" } } });
    g.secrets_of(&app)
        .patch("app", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("UPDATE admitted");
}

#[tokio::test]
async fn a_disabled_key_is_rejected_with_the_fix_and_kubectl_shows_it() {
    let g = Guarded::new("disabled", state_file(disabled()), "Fail").await;
    let msg = g.admission.rejects(|_| secret("app")).await;
    assert!(msg.contains(KEY), "{msg}");
    assert!(
        msg.contains(&format!("aliyun kms EnableKey --KeyId {KEY}")),
        "{msg}"
    );
    let out = g
        .kubectl(&[
            "create",
            "secret",
            "generic",
            "via-kubectl",
            "--from-literal=password=x",
        ])
        .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("denied the request"), "{stderr}");
    assert!(
        stderr.contains("EnableKey"),
        "kubectl shows the policy's fix: {stderr}"
    );
}

#[tokio::test]
async fn a_key_pending_deletion_is_rejected_with_its_date_and_the_cancel_call() {
    let g = Guarded::new(
        "pending-deletion",
        state_file(with_key(|k| {
            k.state = KeyState::PendingDeletion;
            k.state_name = "PendingDeletion".into();
            k.delete_date = Some("2026-12-05T09:00:00Z".into());
        })),
        "Fail",
    )
    .await;
    let msg = g.admission.rejects(|_| secret("app")).await;
    assert!(msg.contains("2026-12-05T09:00:00Z"), "{msg}");
    assert!(
        msg.contains(&format!("CancelKeyDeletion --KeyId {KEY}")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_key_of_the_wrong_spec_is_rejected() {
    let g = Guarded::new(
        "wrong-spec",
        state_file(with_key(|k| k.spec = "Aliyun_AES_128".into())),
        "Fail",
    )
    .await;
    let msg = g.admission.rejects(|_| secret("app")).await;
    assert!(
        msg.contains("Aliyun_AES_128") && msg.contains("Aliyun_AES_256"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unhealthy_kms_provider_is_rejected() {
    let mut state = healthy();
    state.apiserver = Some(ApiserverFacts::from_checks(vec![KmsCheck {
        name: "kms-providers".into(),
        healthy: false,
        detail:
            "kmsv2 Provider ack is not healthy, error: got unexpected healthz status: key disabled"
                .into(),
    }]));
    let g = Guarded::new("unhealthy", state_file(state), "Fail").await;
    let msg = g.admission.rejects(|_| secret("app")).await;
    assert!(msg.contains("unhealthy"), "{msg}");
}

#[tokio::test]
async fn no_kms_provider_in_the_real_apiserver_is_rejected() {
    // The shared control plane runs without any EncryptionConfiguration: the webhook's probe of
    // the real /readyz?verbose lists no KMS check. Only the declared and key facts come from the file.
    let mut state = healthy();
    state.apiserver = None;
    state.sources.retain(|s| s.name != "apiserver");
    let g = Guarded::new(
        "no-provider",
        WebhookOptions {
            state: Some(state),
            apiserver_probe: true,
            ..Default::default()
        },
        "Fail",
    )
    .await;
    // Until the probe's first round the apiserver source reads "not observed yet" (also a
    // denial); then the denial names what the probe found.
    g.admission
        .eventually_rejects_naming(|_| secret("app"), &["no KMS provider"])
        .await;
}

#[tokio::test]
async fn a_deleting_secret_drops_its_finalizers_while_the_key_is_disabled() {
    let g = Guarded::new("finalizers", state_file(healthy()), "Fail").await;
    let app = g
        .admission
        .accepts(|_| {
            let mut s = secret("app");
            s.metadata.finalizers = Some(vec!["example.com/a".into(), "example.com/b".into()]);
            s
        })
        .await;
    let secrets = g.secrets_of(&app);
    g.set_state(&disabled()).await;
    secrets
        .delete("app", &DeleteParams::default())
        .await
        .expect("DELETE is admitted with a disabled key");
    let finalizers =
        |f: &[&str]| Patch::Merge(serde_json::json!({ "metadata": { "finalizers": f } }));
    let params = PatchParams::default();

    // More than a finalizer removal is guarded as usual: it stores the Secret again.
    for (what, patch) in [
        (
            "a label",
            Patch::Merge(serde_json::json!({ "metadata": { "labels": { "x": "y" } } })),
        ),
        (
            "new data with the removal",
            Patch::Merge(serde_json::json!({
                "metadata": { "finalizers": ["example.com/b"] }, "stringData": { "password": "new" }
            })),
        ),
    ] {
        match secrets.patch("app", &params, &patch).await {
            Err(kube::Error::Api(status)) if status.code == 403 => {
                assert!(
                    status.message.contains("is Disabled"),
                    "{what}: {}",
                    status.message
                )
            }
            other => panic!("{what} on a deleting Secret was not denied: {other:?}"),
        }
    }

    // Removing one finalizer rewrites the Secret through KMS (the state's writer is KMS)...
    let kept = secrets
        .patch("app", &params, &finalizers(&["example.com/b"]))
        .await
        .expect("removing one finalizer is admitted");
    assert_eq!(
        kept.metadata.finalizers.as_deref(),
        Some(&["example.com/b".to_string()][..])
    );
    // ...and removing the last one deletes it.
    secrets
        .patch("app", &params, &finalizers(&[]))
        .await
        .expect("removing the last finalizer is admitted");
    assert!(
        secrets.get_opt("app").await.unwrap().is_none(),
        "the Secret finished deleting"
    );
}

#[tokio::test]
async fn status_names_the_weakening_a_webhook_was_started_with() {
    // Every webhook here runs with a state file, which it may only do with
    // --allow-weakening=state-file: status reads that from its /readyz.
    let g = Guarded::new("weakened", state_file(healthy()), "Fail").await;
    let out = tokio::process::Command::new(PLUGIN)
        .args([
            "status",
            "-o",
            "json",
            "--webhook",
            "secretkms-weakened",
            "--kubeconfig",
        ])
        .arg(&g.cp.kubeconfig)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let hook = &report["webhooks"]["value"][0];
    assert_eq!(hook["answering"]["level"], "pass", "{report:#}");
    let weakened = hook["weakened"][0].as_str().unwrap_or_default();
    assert!(
        weakened.starts_with("state file ") && weakened.contains("overrides the live sources"),
        "{report:#}"
    );
    let findings = report["findings"].as_array().cloned().unwrap_or_default();
    assert!(
        findings.iter().any(|f| f["part"] == "webhook"
            && f["level"] == "warn"
            && f["message"]
                .as_str()
                .is_some_and(|m| m.contains("state file"))),
        "{report:#}"
    );
}

#[tokio::test]
async fn a_stale_state_is_rejected_naming_the_source() {
    let mut state = healthy();
    state.sources[1].age_seconds = Some(3600);
    let g = Guarded::new("stale", state_file(state), "Fail").await;
    let msg = g.admission.rejects(|_| secret("app")).await;
    assert!(msg.contains("kms") && msg.contains("stale"), "{msg}");
}

#[tokio::test]
async fn delete_is_never_rejected_and_state_changes_apply_without_restart() {
    let g = Guarded::new("delete", state_file(healthy()), "Fail").await;
    let app = g.admission.accepts(|_| secret("app")).await;
    g.set_state(&disabled()).await;
    g.admission.rejects(|_| secret("other")).await;
    g.secrets_of(&app)
        .delete("app", &DeleteParams::default())
        .await
        .expect("DELETE is admitted even with a disabled key");
    g.set_state(&healthy()).await;
    g.admission.accepts(|_| secret("again")).await;
}

#[tokio::test]
async fn dry_run_requests_are_evaluated_like_others() {
    let g = Guarded::new("dry-run", state_file(disabled()), "Fail").await;
    let out = g
        .kubectl(&[
            "create",
            "secret",
            "generic",
            "x",
            "--from-literal=a=b",
            "--dry-run=server",
        ])
        .await;
    assert!(!out.status.success(), "a server-side dry run is denied too");
    assert!(String::from_utf8_lossy(&out.stderr).contains("EnableKey"));
}

#[tokio::test]
async fn audit_mode_admits_and_kubectl_prints_the_warning() {
    let config = "policies:\n- name: secret-write-guard\n  source: builtin:secret-write-guard\n  mode: audit\n";
    let g = Guarded::new(
        "audit",
        WebhookOptions {
            state: Some(disabled()),
            policy_config: Some(config.into()),
            extra_args: vec!["--allow-weakening=state-file,unguarded-secret-writes".into()],
            ..Default::default()
        },
        "Fail",
    )
    .await;
    let out = g
        .kubectl(&[
            "create",
            "secret",
            "generic",
            "audited",
            "--from-literal=password=x",
        ])
        .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("Warning:") && stderr.contains("EnableKey"),
        "kubectl prints the warning: {stderr}"
    );
}

#[tokio::test]
async fn a_stopped_webhook_fails_closed_or_open_as_configured() {
    let mut closed = Guarded::new("fail-closed", state_file(healthy()), "Fail").await;
    closed.webhook.stop();
    match closed.admission.create(|_| secret("app")).await {
        Err(kube::Error::Api(status)) => assert!(
            status.message.contains("failed calling webhook"),
            "{status:?}"
        ),
        other => panic!("failurePolicy Fail must reject while the webhook is down: {other:?}"),
    }
    let mut open = Guarded::new("fail-open", state_file(healthy()), "Ignore").await;
    open.webhook.stop();
    open.admission.accepts(|_| secret("app")).await;
}

#[tokio::test]
async fn kube_system_and_the_webhooks_own_namespace_are_excluded() {
    // A cluster-wide configuration needs its own control plane: it would reach every test.
    let cp = ControlPlane::start(Options::default()).await.unwrap();
    let client = cp.client().await.unwrap();
    let own = "secretkms";
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &Namespace {
                metadata: ObjectMeta {
                    name: Some(own.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let webhook = Webhook::start(&cp, WEBHOOK.as_ref(), state_file(disabled()))
        .await
        .unwrap();
    let admission = Admission::new(&cp, &client, "guarded").showing_log(webhook.log());
    let config = webhook.configuration_with(
        "secretkms",
        "Fail",
        excluding_namespaces(&["kube-system", own]),
    );
    register(&client, &webhook, &config, &admission.temp_ns().await)
        .await
        .unwrap();
    for ns in ["kube-system", own] {
        admission.accepts_in(ns, |_| secret("allowed")).await;
    }
    admission.rejects(|_| secret("denied")).await;
}

#[tokio::test]
async fn secret_data_never_reaches_the_log() {
    let g = Guarded::new(
        "no-leak",
        WebhookOptions {
            state: Some(healthy()),
            // Every level, for our code and the HTTP stack; the compiler's own tracing is left at
            // info only because tracing every compiled instruction takes minutes.
            extra_args: vec!["--log=trace,cranelift=info,wasmtime=info,regalloc2=info".into()],
            ..Default::default()
        },
        "Fail",
    )
    .await;
    g.admission.accepts(|_| secret("app")).await;
    g.set_state(&disabled()).await;
    let msg = g.admission.rejects(|_| secret("other")).await;
    assert!(!msg.contains(MARKER));
    let log = g.webhook.log_text();
    assert!(
        log.contains("admission decided"),
        "the log has the decisions: {log}"
    );
    for needle in [MARKER.to_string(), base64_of(MARKER)] {
        assert!(!log.contains(&needle), "secret data in the webhook log");
    }
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// How long a replica keeps serving after it leaves the Service's endpoints (the chart's preStop
/// sleep, shortened: here the endpoint goes at once).
const PRE_STOP: Duration = Duration::from_secs(1);

/// A rolling restart of two replicas behind one address, under steady Secret writes with
/// `failurePolicy: Fail`: no write fails. The address is a [`TcpProxy`] standing in for the
/// Service: a replica leaves the endpoints when its pod is deleted, keeps serving through its
/// preStop delay (the apiserver's connection to it stays open, as through kube-proxy), then gets
/// SIGTERM and must finish what it holds and send the apiserver elsewhere (HTTP/2 GOAWAY); its
/// replacement joins once `/readyz` answers. One replica cannot prove this: the apiserver calls
/// a validating webhook once and does not retry (k8s.io/apiserver
/// pkg/admission/plugin/webhook/validating/dispatcher.go, `do()`), so a restart of the only
/// replica fails every write that arrives while it is down.
#[tokio::test]
async fn a_rolling_restart_behind_one_address_fails_no_write() {
    let purpose = "rolling-restart";
    let cp = ControlPlane::shared();
    let client = cp.client().await.unwrap();
    let cache = tempfile::tempdir_in(cp.dir()).unwrap();
    let options = WebhookOptions {
        policy_cache_dir: Some(cache.path().to_path_buf()),
        ..state_file(healthy())
    };
    let start = || async {
        let mut replica = Webhook::start(cp, WEBHOOK.as_ref(), options.clone())
            .await
            .unwrap();
        replica.wait_ready().await.unwrap();
        replica
    };
    let mut replicas = vec![start().await, start().await];
    let service = TcpProxy::start(&[replicas[0].addr()]).unwrap();
    let admission = Admission::new(cp, &client, purpose).labelled("secretkms-webhook", purpose);
    let ns = admission.temp_ns().await;
    let config = reached_at(
        replicas[0].configuration(
            &format!("secretkms-{purpose}"),
            ("secretkms-webhook", purpose),
            "Fail",
        ),
        service.addr(),
    );
    register(&client, &replicas[0], &config, &ns)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", replicas[0].log_text()));
    service.add_backend(replicas[1].addr());

    let stop = Arc::new(AtomicBool::new(false));
    // Two writers at a polite pace (about 100 writes a second in all): steady, and few enough
    // Secrets for the shared control plane.
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (secrets, stop) = (Api::<Secret>::namespaced(client.clone(), &ns), stop.clone());
            tokio::spawn(async move {
                let (mut written, mut failed) = (0u64, Vec::new());
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let name = format!("steady-{w}-{i}");
                    match secrets.create(&PostParams::default(), &secret(&name)).await {
                        Ok(_) => written += 1,
                        Err(e) => failed.push(format!("{name}: {e}")),
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (written, failed)
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut answered_by_old = 0;
    for (i, replica) in replicas.iter_mut().enumerate() {
        service.remove_backend(replica.addr());
        tokio::time::sleep(PRE_STOP).await;
        answered_by_old += replica.reviews_answered().await.unwrap();
        replica.stop();
        let log = replica.log_text();
        assert!(
            log.lines().any(|l| l.trim_end().ends_with(": stopped")),
            "replica {i} stopped by itself after SIGTERM, not killed: {log}"
        );
        let next = start().await;
        service.add_backend(next.addr());
        *replica = next;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let (mut written, mut failed) = (0, Vec::new());
    for w in writers {
        let (n, f) = w.await.unwrap();
        written += n;
        failed.extend(f);
    }
    let mut answered_by_new = 0;
    for r in &replicas {
        answered_by_new += r.reviews_answered().await.unwrap();
    }
    eprintln!(
        "rolling restart: {written} writes admitted, {} failed; reviews answered by the old \
         replicas {answered_by_old}, by their replacements {answered_by_new}; {} connections \
         through the stand-in Service",
        failed.len(),
        service.accepted()
    );
    assert!(failed.is_empty(), "writes failed: {failed:#?}");
    assert!(written >= 40, "steady load: only {written} writes");
    assert!(
        answered_by_old > 0 && answered_by_new > 0,
        "the load moved from the old replicas to the new ones"
    );
}
