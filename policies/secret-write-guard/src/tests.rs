//! Unit tests for every rule of the guard, through [`decide`] so each test also proves the flow
//! around the rule (kind and operation filter, exemptions, enforcement).

use secretkms_policy_kit::model::fixtures;
use secretkms_policy_kit::{
    AdmissionRequest, EncryptionState, Enforcement, KeyState, RewriteFacts, SecretWriter,
    SourceStatus, Verdict, fit_warning,
};

use super::*;

const KEY_ID: &str = fixtures::KEY_ID;
const VERSION: &str = fixtures::KEY_VERSION;

fn source(name: &str, age: Option<u64>, error: Option<&str>) -> SourceStatus {
    SourceStatus {
        name: name.into(),
        age_seconds: age,
        last_error: error.map(Into::into),
    }
}

/// The model's healthy state: everything observed and fine.
fn healthy() -> EncryptionState {
    EncryptionState::from(&fixtures::healthy())
}

fn request(kind: &str, operation: &str, namespace: &str) -> String {
    format!(
        r#"{{"uid":"u-1","kind":{{"group":"","version":"v1","kind":"{kind}"}},
        "resource":{{"group":"","version":"v1","resource":"secrets"}},
        "name":"db-credentials","namespace":"{namespace}","operation":"{operation}",
        "userInfo":{{"username":"alice"}},
        "object":{{"metadata":{{"name":"db-credentials","namespace":"{namespace}"}},
                  "data":{{"password":"ZmFrZS1wYXNzd29yZA=="}}}}}}"#
    )
}

fn run(state: &EncryptionState, settings: &Settings) -> Verdict {
    run_req(&request("Secret", "CREATE", "team-a"), state, settings)
}

fn run_req(json: &str, state: &EncryptionState, settings: &Settings) -> Verdict {
    let req = AdmissionRequest::parse(json).unwrap();
    decide(&req, state, settings)
}

fn denied_with(v: &Verdict, needles: &[&str]) {
    assert!(!v.allowed, "expected a denial, got {v:?}");
    assert_eq!(v.code, 403);
    for n in needles {
        assert!(v.message.contains(n), "message lacks {n:?}: {}", v.message);
    }
}

fn warned_with(v: &Verdict, needle: &str) {
    assert!(
        v.warnings.iter().any(|w| w.contains(needle)),
        "no warning contains {needle:?}: {:?}",
        v.warnings
    );
}

#[test]
fn healthy_state_allows_without_warnings() {
    let v = run(&healthy(), &Settings::default());
    assert!(v.allowed, "{v:?}");
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn update_is_guarded_like_create() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    let v = run_req(
        &request("Secret", "UPDATE", "team-a"),
        &s,
        &Settings::default(),
    );
    denied_with(&v, &["UPDATE of Secret team-a/db-credentials"]);
}

#[test]
fn delete_is_never_blocked() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    s.apiserver.as_mut().unwrap().kms_configured = false;
    let v = run_req(
        &request("Secret", "DELETE", "team-a"),
        &s,
        &Settings::default(),
    );
    assert!(v.allowed);
    assert!(v.warnings.is_empty());
}

#[test]
fn other_kinds_and_operations_pass() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    for (kind, op) in [("ConfigMap", "CREATE"), ("Secret", "CONNECT")] {
        let v = run_req(&request(kind, op, "team-a"), &s, &Settings::default());
        assert!(v.allowed, "{kind} {op}: {v:?}");
    }
}

#[test]
fn exempt_namespaces_from_settings_and_declared_pass() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    s.declared.as_mut().unwrap().exempt_namespaces = vec!["kube-system".into()];
    let settings = Settings {
        exempt_namespaces: vec!["secretkms-system".into()],
        ..Settings::default()
    };
    for ns in ["kube-system", "secretkms-system"] {
        let v = run_req(&request("Secret", "CREATE", ns), &s, &settings);
        assert!(v.allowed, "{ns}: {v:?}");
        assert_eq!(
            v.audit_annotations,
            [("exempt-namespace".into(), ns.into())]
        );
    }
    assert!(!run(&s, &settings).allowed);
}

#[test]
fn not_configured_allows_with_a_warning() {
    let mut s = healthy();
    s.declared = None;
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(&v, "secretkms is not configured");
    // It answered "none" before, and fails now: still unguarded, and the warning says why.
    s.sources[0] = source(
        "declared",
        Some(30),
        Some("Forbidden: secretencryptions is forbidden"),
    );
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(
        &v,
        "cannot read the SecretEncryption named cluster (Forbidden",
    );
}

/// A declaration that was never read is not "none": the guard fails closed with the error,
/// or only warns when this policy is set to audit.
#[test]
fn a_declaration_never_read_denies_with_its_error() {
    let mut s = healthy();
    s.declared = None;
    s.sources[0] = source(
        "declared",
        None,
        Some("the SecretEncryption CRD (secretencryptions.secretkms.io) is not installed: 404"),
    );
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &["never been read", "CRD", "is not installed", "fix: install"],
    );
    let audit = Settings {
        enforcement: Some(Enforcement::Audit),
        ..Settings::default()
    };
    let v = run(&s, &audit);
    assert!(v.allowed);
    warned_with(
        &v,
        "would deny: the SecretEncryption named cluster has never been read",
    );

    // Expected but not asked yet (the webhook just started): not "nothing declared" either.
    s.sources[0] = source("declared", None, None);
    denied_with(
        &run(&s, &Settings::default()),
        &["has not been read yet", "retry in a few seconds"],
    );
}

#[test]
fn secrets_written_in_plaintext_or_under_a_local_key_deny() {
    let writer = |apiserver: &str, prefix: &str| SecretWriter {
        apiserver: apiserver.into(),
        prefix: prefix.into(),
    };
    let mut s = healthy();
    s.apiserver.as_mut().unwrap().secret_writers = vec![writer("", "")];
    denied_with(
        &run(&s, &Settings::default()),
        &[
            "writes Secrets with identity (plaintext)",
            "stored in etcd in plaintext",
            "put the kms provider first",
        ],
    );
    s.apiserver.as_mut().unwrap().secret_writers = vec![
        writer("sha256:aaa", fixtures::WRITE_PREFIX),
        writer("sha256:bbb", "k8s:enc:aescbc:v1:"),
    ];
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "kube-apiserver sha256:bbb writes Secrets with aescbc v1",
            "not the declared KMS key",
        ],
    );
    assert!(!v.message.contains("sha256:aaa"), "{}", v.message);
    s.apiserver.as_mut().unwrap().secret_writers = vec![writer("", "k8s:enc:kms:v1:ack:")];
    assert!(run(&s, &Settings::default()).allowed, "KMS v1 is KMS");
}

/// With KMS v1 and reload off the apiserver has one check per provider, `kms-provider-<n>`.
#[test]
fn kms_v1_checks_per_provider_are_read_like_the_single_check() {
    use secretkms_policy_kit::model;
    let with_checks = |checks: &[(&str, bool, &str)]| {
        let mut m = fixtures::healthy();
        let api = m.apiserver.as_mut().unwrap();
        let checks = checks
            .iter()
            .map(|(name, healthy, detail)| model::KmsCheck {
                name: (*name).into(),
                healthy: *healthy,
                detail: (*detail).into(),
            })
            .collect();
        *api = model::ApiserverFacts {
            secret_writers: api.secret_writers.clone(),
            ..model::ApiserverFacts::from_checks(checks)
        };
        EncryptionState::from(&m)
    };
    let ok = with_checks(&[
        ("kms-provider-0", true, "ok"),
        ("kms-provider-1", true, "ok"),
    ]);
    assert!(run(&ok, &Settings::default()).allowed);
    let failing = with_checks(&[
        ("kms-provider-0", true, "ok"),
        ("kms-provider-1", false, "failed to decrypt"),
    ]);
    denied_with(
        &run(&failing, &Settings::default()),
        &["unhealthy (kms-provider-1: failed to decrypt)"],
    );
}

/// After the declaration moves from key A to key B, A's facts say nothing about B.
#[test]
fn facts_of_another_key_count_as_missing() {
    let mut s = healthy();
    s.declared.as_mut().unwrap().key = "alias/new-key".into();
    let key = s.key.as_mut().unwrap();
    key.state = KeyState::Disabled;
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &["facts are for key alias/k8s-secrets but key alias/new-key is declared"],
    );
    assert!(!v.message.contains("Disabled"), "{}", v.message);
    // Facts that do not say which key they were asked for (older state files) still count.
    s.key.as_mut().unwrap().requested = String::new();
    denied_with(&run(&s, &Settings::default()), &["is Disabled"]);
}

#[test]
fn no_kms_provider_in_apiserver_denies() {
    let mut s = healthy();
    s.apiserver.as_mut().unwrap().kms_configured = false;
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "no KMS provider",
            "plaintext",
            "alias/k8s-secrets",
            "EncryptionConfiguration",
        ],
    );
}

#[test]
fn unhealthy_kms_provider_denies_with_detail() {
    let mut s = healthy();
    let api = s.apiserver.as_mut().unwrap();
    api.kms_healthy = false;
    api.checks[0].healthy = false;
    api.checks[0].detail = "rpc error:\n code = DeadlineExceeded".into();
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "unhealthy",
            "kms-providers: rpc error: code = DeadlineExceeded",
            "/readyz?verbose",
        ],
    );
}

#[test]
fn disabled_key_denies_with_enable_command() {
    let mut s = healthy();
    let k = s.key.as_mut().unwrap();
    k.state = KeyState::Disabled;
    k.state_name = "Disabled".into();
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "is Disabled",
            &format!("aliyun kms EnableKey --KeyId {KEY_ID}"),
        ],
    );
}

#[test]
fn pending_deletion_denies_with_date_and_cancel_command() {
    let mut s = healthy();
    let k = s.key.as_mut().unwrap();
    k.state = KeyState::PendingDeletion;
    k.delete_date = Some("2026-06-01T08:00:00Z".into());
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            KEY_ID,
            "PendingDeletion",
            "2026-06-01T08:00:00Z",
            &format!("aliyun kms CancelKeyDeletion --KeyId {KEY_ID}"),
        ],
    );
}

#[test]
fn pending_import_and_unknown_states_deny() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::PendingImport;
    denied_with(
        &run(&s, &Settings::default()),
        &["PendingImport", "ImportKeyMaterial"],
    );
    let k = s.key.as_mut().unwrap();
    k.state = KeyState::Unknown;
    k.state_name = "Frozen".into();
    denied_with(
        &run(&s, &Settings::default()),
        &["\"Frozen\"", "only Enabled keys"],
    );
}

#[test]
fn wrong_key_spec_denies_and_settings_override_the_declared_spec() {
    let mut s = healthy();
    s.key.as_mut().unwrap().spec = "Aliyun_SM4".into();
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "\"Aliyun_SM4\"",
            "Aliyun_AES_256 is required",
            "--KeySpec Aliyun_AES_256",
        ],
    );
    let settings = Settings {
        required_key_spec: Some("Aliyun_SM4".into()),
        ..Settings::default()
    };
    assert!(run(&s, &settings).allowed);
    s.declared.as_mut().unwrap().required_key_spec = "Aliyun_SM4".into();
    assert!(run(&s, &Settings::default()).allowed);
}

#[test]
fn plugin_on_another_key_denies() {
    let mut s = healthy();
    s.plugin.as_mut().unwrap().key_id = "key-other0000000000000/ffff".into();
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "key-other0000000000000/ffff",
            KEY_ID,
            VERSION,
            "checkPluginKeyId",
        ],
    );
    let off = Settings {
        check_plugin_key_id: false,
        ..Settings::default()
    };
    assert!(run(&s, &off).allowed);
}

#[test]
fn plugin_key_id_naming_only_the_version_or_the_arn_matches() {
    let mut s = healthy();
    s.plugin.as_mut().unwrap().key_id = VERSION.into();
    assert!(run(&s, &Settings::default()).allowed);
    s.key.as_mut().unwrap().primary_key_version = None;
    s.plugin.as_mut().unwrap().key_id =
        format!("acs:kms:cn-hangzhou:1234567890123456:key/{KEY_ID}");
    assert!(run(&s, &Settings::default()).allowed);
}

#[test]
fn plugin_behind_a_rotation_warns() {
    let mut s = healthy();
    s.plugin.as_mut().unwrap().key_id = format!("{KEY_ID}/0000-old-version");
    let v = run(&s, &Settings::default());
    assert!(v.allowed, "{v:?}");
    warned_with(&v, "has not picked up the rotation");
}

#[test]
fn unhealthy_plugin_denies() {
    let mut s = healthy();
    s.plugin.as_mut().unwrap().healthz = "kms: key is disabled".into();
    denied_with(
        &run(&s, &Settings::default()),
        &["healthz \"kms: key is disabled\""],
    );
}

#[test]
fn plugin_rule_needs_both_sides() {
    let mut s = healthy();
    s.plugin.as_mut().unwrap().key_id = String::new();
    assert!(run(&s, &Settings::default()).allowed);
    let mut s = healthy();
    s.plugin.as_mut().unwrap().key_id = "opaque".into();
    s.key = None;
    let v = run(&s, &Settings::default());
    assert!(v.allowed, "{v:?}");
}

#[test]
fn stale_source_denies_naming_it() {
    let mut s = healthy();
    s.sources[1] = source("kms", Some(901), Some("Throttling: request was denied"));
    let v = run(&s, &Settings::default());
    denied_with(
        &v,
        &[
            "`kms` is stale",
            "901 s ago",
            "allowed 300 s",
            "Throttling",
            "KMS credentials",
        ],
    );
}

#[test]
fn max_age_comes_from_settings_then_declared() {
    let mut s = healthy();
    s.sources[2] = source("apiserver", Some(100), None);
    assert!(run(&s, &Settings::default()).allowed);
    let strict = Settings {
        max_state_age_seconds: Some(60),
        ..Settings::default()
    };
    denied_with(&run(&s, &strict), &["`apiserver` is stale", "allowed 60 s"]);
    s.declared.as_mut().unwrap().max_state_age_seconds = 30;
    denied_with(&run(&s, &Settings::default()), &["allowed 30 s"]);
}

#[test]
fn source_that_never_answered_denies() {
    let mut s = healthy();
    s.sources[3] = source(
        "plugin",
        None,
        Some("connect: no such file /var/run/kmsplugin/grpc.sock"),
    );
    denied_with(
        &run(&s, &Settings::default()),
        &["`plugin` has never answered", "grpc.sock"],
    );
    s.sources[3] = source("plugin", None, None);
    denied_with(
        &run(&s, &Settings::default()),
        &["`plugin` has not been observed yet"],
    );
}

#[test]
fn a_recent_error_with_fresh_data_is_fine() {
    let mut s = healthy();
    s.sources[1] = source("kms", Some(40), Some("Throttling"));
    assert!(run(&s, &Settings::default()).allowed);
}

#[test]
fn stale_rewrite_source_never_denies() {
    let mut s = healthy();
    s.sources.push(source(
        "rewrite",
        Some(100_000),
        Some("list secrets: timeout"),
    ));
    assert!(run(&s, &Settings::default()).allowed);
}

#[test]
fn unfinished_rewrite_warns() {
    let mut s = healthy();
    s.rewrite = Some(RewriteFacts {
        target: "20260501-101500".into(),
        total: 1200,
        done: 845,
    });
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(
        &v,
        "845 of 1200 Secrets carry rotation time 20260501-101500",
    );
    s.rewrite.as_mut().unwrap().done = 1200;
    assert!(run(&s, &Settings::default()).warnings.is_empty());
}

#[test]
fn deletion_protection_off_warns_unless_turned_off() {
    let mut s = healthy();
    s.key.as_mut().unwrap().deletion_protection = Some(false);
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(&v, "deletion protection off");
    warned_with(
        &v,
        &format!("--ProtectedResourceArn acs:kms:cn-hangzhou:1234567890123456:key/{KEY_ID}"),
    );
    let quiet = Settings {
        warn_on_deletion_protection_off: false,
        ..Settings::default()
    };
    assert!(run(&s, &quiet).warnings.is_empty());
}

#[test]
fn rotation_off_warns_unless_turned_off() {
    let mut s = healthy();
    s.key.as_mut().unwrap().automatic_rotation = Some(false);
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(
        &v,
        &format!("UpdateRotationPolicy --KeyId {KEY_ID} --EnableAutomaticRotation true"),
    );
    let quiet = Settings {
        warn_on_rotation_off: false,
        ..Settings::default()
    };
    assert!(run(&s, &quiet).warnings.is_empty());
}

#[test]
fn unknown_rotation_or_protection_does_not_warn() {
    let mut s = healthy();
    let k = s.key.as_mut().unwrap();
    k.automatic_rotation = None;
    k.deletion_protection = None;
    assert!(run(&s, &Settings::default()).warnings.is_empty());
}

#[test]
fn unqueried_kms_warns() {
    let mut s = healthy();
    s.key = None;
    s.sources.retain(|src| src.name != "kms");
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(&v, "does not query the KMS");
}

#[test]
fn audit_mode_allows_with_would_deny_warnings_and_annotation() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    s.declared.as_mut().unwrap().enforce = false;
    let v = run(&s, &Settings::default());
    assert!(v.allowed);
    warned_with(&v, "secretkms audit mode, would deny: KMS key");
    assert_eq!(v.audit_annotations[0].0, "would-deny");
    assert!(v.audit_annotations[0].1.contains("EnableKey"));
    let enforce = Settings {
        enforcement: Some(Enforcement::Enforce),
        ..Settings::default()
    };
    assert!(!run(&s, &enforce).allowed);
    s.declared.as_mut().unwrap().enforce = true;
    let audit = Settings {
        enforcement: Some(Enforcement::Audit),
        ..Settings::default()
    };
    assert!(run(&s, &audit).allowed);
}

#[test]
fn several_problems_are_all_reported() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    s.key.as_mut().unwrap().spec = "Aliyun_AES_128".into();
    s.key.as_mut().unwrap().deletion_protection = Some(false);
    let v = run(&s, &Settings::default());
    denied_with(&v, &["is Disabled", "\"Aliyun_AES_128\""]);
    warned_with(&v, "deletion protection off");
    assert_eq!(v.audit_annotations[0].0, "denied");
}

#[test]
fn warnings_fit_the_apiserver_limits() {
    let mut s = healthy();
    let k = s.key.as_mut().unwrap();
    k.automatic_rotation = Some(false);
    k.deletion_protection = Some(false);
    s.rewrite = Some(RewriteFacts {
        target: "20260501-101500".into(),
        total: 10,
        done: 1,
    });
    let v = run(&s, &Settings::default());
    assert_eq!(v.warnings.len(), 3);
    for w in &v.warnings {
        assert_eq!(&fit_warning(w), w);
        assert!(w.chars().count() <= 256, "{w}");
    }
}

#[test]
fn messages_never_contain_secret_values() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    let v = run(&s, &Settings::default());
    let all = format!("{v:?}");
    assert!(!all.contains("ZmFrZS1wYXNzd29yZA"), "{all}");
}

/// An UPDATE of a Secret being deleted, from finalizers `old` to `new`, with `data_new` as the
/// new object's data.
fn finalizer_update(old: &[&str], new: &[&str], data_new: &str) -> String {
    let object = |finalizers: &[&str], data: &str| {
        serde_json::json!({
            "metadata": {"name": "db", "namespace": "team-a", "finalizers": finalizers,
                         "deletionTimestamp": "2026-12-02T06:00:00Z",
                         "deletionGracePeriodSeconds": 0},
            "data": {"password": data}
        })
    };
    serde_json::json!({
        "uid": "u-2", "kind": {"group": "", "version": "v1", "kind": "Secret"},
        "resource": {"group": "", "version": "v1", "resource": "secrets"},
        "name": "db", "namespace": "team-a", "operation": "UPDATE",
        "userInfo": {"username": "backup-controller"},
        "object": object(new, data_new),
        "oldObject": object(old, "b2xk"),
    })
    .to_string()
}

/// An apiserver that writes Secrets with `identity` first.
fn plaintext_writer() -> SecretWriter {
    SecretWriter {
        apiserver: String::new(),
        prefix: String::new(),
    }
}

fn annotation<'v>(v: &'v Verdict, key: &str) -> Option<&'v str> {
    v.audit_annotations
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[test]
fn removing_the_last_finalizer_of_a_deleting_secret_passes_whatever_the_state() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    s.apiserver.as_mut().unwrap().secret_writers = vec![plaintext_writer()];
    let v = run_req(
        &finalizer_update(&["a"], &[], "b2xk"),
        &s,
        &Settings::default(),
    );
    assert!(v.allowed, "{v:?}");
    assert!(
        annotation(&v, "finalizer-removal")
            .unwrap()
            .contains("not written")
    );
}

#[test]
fn removing_some_finalizers_passes_unless_the_rewrite_would_leave_kms() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    let partial = finalizer_update(&["a", "b"], &["b"], "b2xk");
    let v = run_req(&partial, &s, &Settings::default());
    assert!(v.allowed, "a broken KMS fails the write by itself: {v:?}");
    assert!(annotation(&v, "finalizer-removal").is_some());

    s.apiserver.as_mut().unwrap().secret_writers = vec![plaintext_writer()];
    denied_with(
        &run_req(&partial, &s, &Settings::default()),
        &["stored in etcd in plaintext"],
    );
}

#[test]
fn anything_more_than_a_finalizer_removal_is_guarded_as_usual() {
    let mut s = healthy();
    s.key.as_mut().unwrap().state = KeyState::Disabled;
    for (what, json) in [
        ("new data", finalizer_update(&["a"], &[], "bmV3")),
        (
            "an added finalizer",
            finalizer_update(&["a"], &["a", "b"], "b2xk"),
        ),
        ("no change at all", finalizer_update(&["a"], &["a"], "b2xk")),
    ] {
        let v = run_req(&json, &s, &Settings::default());
        denied_with(&v, &["is Disabled"]);
        assert!(annotation(&v, "finalizer-removal").is_none(), "{what}");
    }
    // Not being deleted: a live Secret's update is stored whole, so it is guarded.
    let live = finalizer_update(&["a"], &[], "b2xk")
        .replace("\"deletionTimestamp\":\"2026-12-02T06:00:00Z\",", "");
    assert!(!live.contains("deletionTimestamp"));
    denied_with(&run_req(&live, &s, &Settings::default()), &["is Disabled"]);
}
