//! Unit tests for every rule of the key-change guard, through [`decide`] with canned
//! `describe-key` answers (the model's key facts, as in the cases' `keys.json`).

use secretkms_policy_kit::model::{KeyFacts, KeyState, fixtures};
use secretkms_policy_kit::{
    AdmissionRequest, ApiserverFacts, CannedKeys, Declared, EncryptionState, Enforcement,
    RewriteFacts, Verdict,
};
use serde_json::{Value, json};

use super::*;

const OLD_KEY: &str = fixtures::KEY_ID;
const NEW_KEY: &str = "key-bjj62f5ca7e1zqt8x1m0q";

fn facts(id: &str) -> KeyFacts {
    let mut k = fixtures::enabled_key(id);
    k.arn = Some(format!("acs:kms:cn-hangzhou:1234567890123456:key/{id}"));
    k.deletion_protection = Some(true);
    k
}

fn keys() -> CannedKeys {
    CannedKeys::new()
        .with(OLD_KEY, facts(OLD_KEY))
        .with(NEW_KEY, facts(NEW_KEY))
        .with("alias/k8s-secrets", facts(NEW_KEY))
}

fn state() -> EncryptionState {
    let mut s = EncryptionState::empty(1_770_000_000);
    s.declared = Some(Declared::for_key(OLD_KEY));
    s.apiserver = Some(ApiserverFacts {
        kms_configured: true,
        kms_healthy: true,
        detail: "ok".into(),
        checks: Vec::new(),
        secret_writers: Vec::new(),
    });
    s
}

fn object(spec: Value, annotations: Value) -> Value {
    json!({
        "apiVersion": "secretkms.io/v1alpha1", "kind": "SecretEncryption",
        "metadata": {"name": "cluster", "annotations": annotations},
        "spec": spec
    })
}

fn spec(key: &str) -> Value {
    json!({"provider": "alibaba-kms", "key": key, "region": "cn-hangzhou",
           "requiredKeySpec": "Aliyun_AES_256", "enforcement": "enforce"})
}

fn request(op: &str, new: Option<Value>, old: Option<Value>) -> String {
    json!({
        "uid": "u-2",
        "kind": {"group": "secretkms.io", "version": "v1alpha1", "kind": "SecretEncryption"},
        "resource": {"group": "secretkms.io", "version": "v1alpha1", "resource": "secretencryptions"},
        "name": "cluster", "operation": op, "userInfo": {"username": "ops-admin"},
        "object": new, "oldObject": old
    })
    .to_string()
}

fn run(json: &str, s: &EncryptionState, settings: &Settings, k: &CannedKeys) -> Verdict {
    decide(&AdmissionRequest::parse(json).unwrap(), s, settings, k)
}

fn update(new_spec: Value) -> String {
    request(
        "UPDATE",
        Some(object(new_spec, json!({}))),
        Some(object(spec(OLD_KEY), json!({}))),
    )
}

fn denied_with(v: &Verdict, needles: &[&str]) {
    assert!(!v.allowed, "expected a denial, got {v:?}");
    assert_eq!(v.code, 403);
    for n in needles {
        assert!(v.message.contains(n), "message lacks {n:?}: {}", v.message);
    }
}

fn ok(v: &Verdict) {
    assert!(v.allowed, "expected allowed, got {v:?}");
}

#[test]
fn create_with_a_good_key_is_allowed() {
    let req = request("CREATE", Some(object(spec(NEW_KEY), json!({}))), None);
    let v = run(&req, &state(), &Settings::default(), &keys());
    ok(&v);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn aliases_are_looked_up_as_written() {
    let req = request(
        "CREATE",
        Some(object(spec("alias/k8s-secrets"), json!({}))),
        None,
    );
    ok(&run(&req, &state(), &Settings::default(), &keys()));
}

#[test]
fn missing_key_is_denied_with_the_kms_error() {
    let v = run(
        &update(spec("alias/typo")),
        &state(),
        &Settings::default(),
        &keys(),
    );
    denied_with(
        &v,
        &[
            "alias/typo",
            "Forbidden.KeyNotFound",
            "kms:DescribeKey",
            "cn-hangzhou",
        ],
    );
}

#[test]
fn pending_deletion_key_is_denied_with_date_and_cancel_call() {
    let mut k = facts(NEW_KEY);
    k.state = KeyState::PendingDeletion;
    k.delete_date = Some("2026-06-01T08:00:00Z".into());
    let keys = keys().with(NEW_KEY, k);
    let v = run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys,
    );
    denied_with(
        &v,
        &[
            "PendingDeletion",
            "2026-06-01T08:00:00Z",
            &format!("CancelKeyDeletion --KeyId {NEW_KEY}"),
        ],
    );
}

#[test]
fn disabled_pending_import_and_unknown_keys_are_denied() {
    for (state_, name, needle) in [
        (KeyState::Disabled, "Disabled", "EnableKey --KeyId"),
        (
            KeyState::PendingImport,
            "PendingImport",
            "ImportKeyMaterial",
        ),
        (KeyState::Unknown, "Archived", "\"Archived\""),
    ] {
        let mut k = facts(NEW_KEY);
        k.state = state_;
        k.state_name = name.into();
        let v = run(
            &update(spec(NEW_KEY)),
            &state(),
            &Settings::default(),
            &keys().with(NEW_KEY, k),
        );
        denied_with(&v, &[needle]);
    }
}

#[test]
fn wrong_spec_is_denied_against_the_required_spec() {
    let mut k = facts(NEW_KEY);
    k.spec = "Aliyun_SM4".into();
    let keys = keys().with(NEW_KEY, k);
    let v = run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys,
    );
    denied_with(&v, &["\"Aliyun_SM4\"", "requiredKeySpec is Aliyun_AES_256"]);
    let mut sm4 = spec(NEW_KEY);
    sm4["requiredKeySpec"] = json!("Aliyun_SM4");
    ok(&run(&update(sm4), &state(), &Settings::default(), &keys));
}

#[test]
fn default_required_spec_is_aes_256() {
    let mut k = facts(NEW_KEY);
    k.spec = "Aliyun_AES_128".into();
    let keys = keys().with(NEW_KEY, k);
    let bare = json!({"key": NEW_KEY});
    let v = run(&update(bare), &state(), &Settings::default(), &keys);
    denied_with(&v, &["requiredKeySpec is Aliyun_AES_256"]);
}

#[test]
fn wrong_usage_is_denied() {
    let mut k = facts(NEW_KEY);
    k.usage = "SIGN/VERIFY".into();
    let v = run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys().with(NEW_KEY, k),
    );
    denied_with(&v, &["\"SIGN/VERIFY\"", "ENCRYPT/DECRYPT"]);
}

#[test]
fn region_mismatch_is_denied_from_facts_or_arn() {
    let mut k = facts(NEW_KEY);
    k.region = Some("cn-beijing".into());
    let v = run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys().with(NEW_KEY, k),
    );
    denied_with(&v, &["region cn-beijing but spec.region is cn-hangzhou"]);
    let mut k = facts(NEW_KEY);
    k.arn = Some(format!(
        "acs:kms:cn-shanghai:1234567890123456:key/{NEW_KEY}"
    ));
    let v = run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys().with(NEW_KEY, k),
    );
    denied_with(&v, &["region cn-shanghai"]);
}

#[test]
fn unknown_regions_are_not_guessed() {
    let mut k = facts(NEW_KEY);
    k.arn = None;
    ok(&run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys().with(NEW_KEY, k),
    ));
}

#[test]
fn allowed_regions_setting_is_enforced() {
    let settings = Settings {
        allowed_regions: vec!["cn-beijing".into()],
        ..Settings::default()
    };
    let mut s = spec(NEW_KEY);
    s["region"] = Value::Null;
    let v = run(&update(s), &state(), &settings, &keys());
    denied_with(&v, &["not one of the allowed regions cn-beijing"]);
}

#[test]
fn unchanged_key_is_not_looked_up() {
    let mut s = spec(OLD_KEY);
    s["maxStateAgeSeconds"] = json!(60);
    let v = run(
        &update(s),
        &state(),
        &Settings::default(),
        &CannedKeys::new(),
    );
    ok(&v);
}

#[test]
fn changed_constraints_recheck_the_key() {
    let mut s = spec(OLD_KEY);
    s["region"] = json!("cn-beijing");
    let v = run(&update(s), &state(), &Settings::default(), &keys());
    denied_with(&v, &["region cn-hangzhou but spec.region is cn-beijing"]);
}

#[test]
fn new_key_during_unfinished_rewrite_is_denied() {
    let mut s = state();
    s.rewrite = Some(RewriteFacts {
        target: "20260501-101500".into(),
        total: 1200,
        done: 845,
    });
    let v = run(&update(spec(NEW_KEY)), &s, &Settings::default(), &keys());
    denied_with(
        &v,
        &[
            "845 of 1200",
            "20260501-101500",
            "kubectl secretkms rewrite",
        ],
    );
    let mut same = spec(OLD_KEY);
    same["maxStateAgeSeconds"] = json!(60);
    ok(&run(&update(same), &s, &Settings::default(), &keys()));
    s.rewrite.as_mut().unwrap().done = 1200;
    ok(&run(
        &update(spec(NEW_KEY)),
        &s,
        &Settings::default(),
        &keys(),
    ));
}

#[test]
fn delete_is_denied_while_secrets_are_encrypted() {
    let req = request("DELETE", None, Some(object(spec(OLD_KEY), json!({}))));
    let v = run(&req, &state(), &Settings::default(), &keys());
    denied_with(
        &v,
        &[
            "deleting the SecretEncryption",
            "still has a KMS provider",
            "secretkms.io/force",
        ],
    );
    let mut s = state();
    s.apiserver = None;
    denied_with(
        &run(&req, &s, &Settings::default(), &keys()),
        &["cannot see the kube-apiserver"],
    );
}

#[test]
fn forced_delete_is_allowed_and_audited() {
    let req = request(
        "DELETE",
        None,
        Some(object(spec(OLD_KEY), json!({"secretkms.io/force": "true"}))),
    );
    let v = run(&req, &state(), &Settings::default(), &keys());
    ok(&v);
    assert!(
        v.warnings[0].contains("forced with secretkms.io/force"),
        "{:?}",
        v.warnings
    );
    assert_eq!(
        v.audit_annotations,
        [("forced-by".into(), "ops-admin".into())]
    );
    let not_true = request(
        "DELETE",
        None,
        Some(object(spec(OLD_KEY), json!({"secretkms.io/force": "yes"}))),
    );
    assert!(!run(&not_true, &state(), &Settings::default(), &keys()).allowed);
}

#[test]
fn delete_without_a_kms_provider_is_allowed() {
    let mut s = state();
    s.apiserver.as_mut().unwrap().kms_configured = false;
    let req = request("DELETE", None, Some(object(spec(OLD_KEY), json!({}))));
    ok(&run(&req, &s, &Settings::default(), &keys()));
}

#[test]
fn clearing_the_key_needs_force() {
    let v = run(&update(spec("")), &state(), &Settings::default(), &keys());
    denied_with(&v, &["clearing spec.key"]);
    let forced = request(
        "UPDATE",
        Some(object(spec(""), json!({"secretkms.io/force": "true"}))),
        Some(object(spec(OLD_KEY), json!({}))),
    );
    ok(&run(&forced, &state(), &Settings::default(), &keys()));
}

#[test]
fn create_with_an_empty_key_is_denied() {
    let req = request("CREATE", Some(object(spec(""), json!({}))), None);
    denied_with(
        &run(&req, &state(), &Settings::default(), &keys()),
        &["spec.key is empty"],
    );
}

#[test]
fn switching_to_audit_needs_force_unless_allowed_by_settings() {
    let mut audit = spec(OLD_KEY);
    audit["enforcement"] = json!("audit");
    let v = run(
        &update(audit.clone()),
        &state(),
        &Settings::default(),
        &keys(),
    );
    denied_with(
        &v,
        &[
            "spec.enforcement enforce → audit weakens the guard",
            "secretkms.io/force: \"true\"",
        ],
    );
    let lenient = Settings {
        deny_audit_switch: false,
        ..Settings::default()
    };
    ok(&run(&update(audit), &state(), &lenient, &keys()));
}

#[test]
fn deletion_protection_off_warns() {
    let mut k = facts(NEW_KEY);
    k.deletion_protection = Some(false);
    let v = run(
        &update(spec(NEW_KEY)),
        &state(),
        &Settings::default(),
        &keys().with(NEW_KEY, k),
    );
    ok(&v);
    assert!(
        v.warnings[0].contains("deletion protection off"),
        "{:?}",
        v.warnings
    );
}

#[test]
fn audit_mode_setting_allows_with_would_deny() {
    let settings = Settings {
        enforcement: Enforcement::Audit,
        ..Settings::default()
    };
    let v = run(&update(spec("alias/typo")), &state(), &settings, &keys());
    ok(&v);
    assert!(v.warnings[0].starts_with("secretkms audit mode, would deny: key alias/typo"));
    assert_eq!(v.audit_annotations[0].0, "would-deny");
}

#[test]
fn other_names_kinds_and_invalid_specs() {
    let mut other = request("CREATE", Some(object(spec("alias/typo"), json!({}))), None);
    other = other.replace("\"name\":\"cluster\"", "\"name\":\"staging\"");
    let v = run(&other, &state(), &Settings::default(), &keys());
    ok(&v);
    assert!(
        v.warnings[0].contains("only reads the one named cluster"),
        "{:?}",
        v.warnings
    );

    let secret = r#"{"kind":{"group":"","version":"v1","kind":"Secret"},"operation":"DELETE"}"#;
    ok(&run(secret, &state(), &Settings::default(), &keys()));

    let mut bad = spec(NEW_KEY);
    bad["enforcement"] = json!("loud");
    let v = run(&update(bad), &state(), &Settings::default(), &keys());
    assert_eq!((v.allowed, v.code), (false, 400));
    assert!(
        v.message.contains("unknown variant `loud`"),
        "{}",
        v.message
    );
}

#[test]
fn messages_show_the_alias_and_the_key_id() {
    let mut k = facts(NEW_KEY);
    k.state = KeyState::Disabled;
    let keys = keys().with("alias/k8s-secrets", k);
    let v = run(
        &update(spec("alias/k8s-secrets")),
        &state(),
        &Settings::default(),
        &keys,
    );
    denied_with(
        &v,
        &[&format!("key alias/k8s-secrets ({NEW_KEY}) is Disabled")],
    );
    let v = run(
        &update(spec("alias/typo")),
        &state(),
        &Settings::default(),
        &keys,
    );
    assert!(!v.message.contains("()"), "{}", v.message);
}

#[test]
fn weakening_changes_need_force_whatever_the_apiserver_reports() {
    let mut s = state();
    s.apiserver.as_mut().unwrap().kms_configured = false;
    let mut wider = spec(OLD_KEY);
    wider["exemptNamespaces"] = json!(["team-a"]);
    let v = run(&update(wider.clone()), &s, &Settings::default(), &keys());
    denied_with(
        &v,
        &[
            "spec.exemptNamespaces [] → [team-a] weakens the guard",
            "Secret writes in team-a would never be denied",
            "fix: keep spec.exemptNamespaces without them",
            "kubectl annotate secretencryption cluster secretkms.io/force=true",
        ],
    );
    let forced = request(
        "UPDATE",
        Some(object(wider, json!({"secretkms.io/force": "true"}))),
        Some(object(spec(OLD_KEY), json!({}))),
    );
    let v = run(&forced, &s, &Settings::default(), &keys());
    ok(&v);
    assert_eq!(
        v.warnings,
        [
            "forced with secretkms.io/force: spec.exemptNamespaces [] → [team-a] weakens the guard",
            "secretkms.io/force stays on the object and forces later changes too; remove it: \
             kubectl annotate secretencryption cluster secretkms.io/force-"
        ]
    );
    assert_eq!(
        v.audit_annotations,
        [("forced-by".into(), "ops-admin".into())]
    );
}

#[test]
fn every_weakening_is_named_in_one_denial() {
    let mut weak = spec(OLD_KEY);
    weak["exemptNamespaces"] = json!(["team-a"]);
    weak["maxStateAgeSeconds"] = json!(3600);
    weak["provider"] = json!("kms-plugin");
    weak["endpoint"] = json!("https://kms.attacker.example");
    weak["enforcement"] = json!("audit");
    let v = run(&update(weak), &state(), &Settings::default(), &keys());
    denied_with(
        &v,
        &[
            "spec.exemptNamespaces [] → [team-a]",
            "spec.maxStateAgeSeconds 300 → 3600",
            "spec.provider alibaba-kms → kms-plugin",
            "spec.endpoint unset → https://kms.attacker.example weakens the guard: it is not an \
             Alibaba Cloud KMS endpoint (host kms.attacker.example is neither Alibaba Cloud KMS \
             nor loopback)",
            "spec.enforcement enforce → audit",
        ],
    );
}

#[test]
fn create_in_audit_mode_or_with_a_foreign_endpoint_needs_force() {
    let mut audit = spec(NEW_KEY);
    audit["enforcement"] = json!("audit");
    let req = request("CREATE", Some(object(audit.clone(), json!({}))), None);
    denied_with(
        &run(&req, &state(), &Settings::default(), &keys()),
        &["spec.enforcement enforce → audit weakens the guard"],
    );
    let forced = request(
        "CREATE",
        Some(object(audit, json!({"secretkms.io/force": "true"}))),
        None,
    );
    ok(&run(&forced, &state(), &Settings::default(), &keys()));

    let mut proxy = spec(NEW_KEY);
    proxy["endpoint"] = json!("https://kms-proxy.corp.example:8443");
    let req = request("CREATE", Some(object(proxy, json!({}))), None);
    denied_with(
        &run(&req, &state(), &Settings::default(), &keys()),
        &["spec.endpoint unset → https://kms-proxy.corp.example:8443"],
    );
    let mut emulator = spec(NEW_KEY);
    emulator["endpoint"] = json!("http://127.0.0.1:18080");
    let req = request("CREATE", Some(object(emulator, json!({}))), None);
    ok(&run(&req, &state(), &Settings::default(), &keys()));
}

#[test]
fn an_unreadable_old_spec_counts_every_exemption_as_new() {
    let mut s = spec(OLD_KEY);
    s["exemptNamespaces"] = json!(["kube-system"]);
    let mut broken = spec(OLD_KEY);
    broken["enforcement"] = json!("loud");
    let req = request(
        "UPDATE",
        Some(object(s, json!({}))),
        Some(object(broken, json!({}))),
    );
    denied_with(
        &run(&req, &state(), &Settings::default(), &keys()),
        &["spec.exemptNamespaces [] → [kube-system]"],
    );
}
