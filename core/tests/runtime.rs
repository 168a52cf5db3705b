//! The policy runtime end to end: the real default policy components and tiny misbehaving
//! components (tests/data/*.wat) loaded through `PolicyRuntime` and evaluated like the webhook
//! and `kubectl secretkms policy` do.

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use secretkms_core::policy::{
    CacheDir, CacheStatus, Decision, DecisionKind, ErrorKind, FailureMode, KeyLookup, LoadError,
    Mode, NoKeyLookup, Operation, Outcome, PolicyConfig, PolicyRuntime, PolicySet, PolicySource,
    PolicySpec, Rule, RuntimeConfig, SETTINGS_TIMEOUT_FLOOR,
};
use secretkms_core::review::Review;
use secretkms_model::fixtures::{KEY_ID, healthy};
use secretkms_model::{CannedKeys, EncryptionState, KeyFacts, KeyState};

#[path = "support/policy_component.rs"]
mod support;

use support::policy_component;

const NEW_KEY: &str = "key-bjj62f5ca7e1zqt8x1m0q";

fn data(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The world wrapper of tests/data/policy-component.wat around the core module of `fixture`.
fn component(fixture: &str, extra_imports: &str) -> Arc<[u8]> {
    policy_component(&data(fixture), extra_imports).into()
}

/// One runtime for the whole binary, as in the webhook. Precompiled artefacts are cached under
/// cargo's target folder: Cranelift is slow in debug builds, and this way each component is
/// compiled once, not once per test (nor per run).
fn runtime() -> &'static PolicyRuntime {
    static RT: OnceLock<PolicyRuntime> = OnceLock::new();
    RT.get_or_init(|| {
        let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy-artifacts");
        let rt = PolicyRuntime::new(RuntimeConfig {
            cache: CacheDir::At(cache),
            ..RuntimeConfig::default()
        })
        .unwrap();
        assert!(
            rt.cache_dir().is_some(),
            "the test cache folder must be usable"
        );
        rt
    })
}

fn load(specs: Vec<PolicySpec>) -> Result<PolicySet, LoadError> {
    runtime().load(&PolicyConfig { policies: specs }, Arc::new(NoKeyLookup))
}

fn secrets_rule() -> Vec<Rule> {
    vec![Rule::new(
        &[""],
        &["v1"],
        &["secrets"],
        &[Operation::Create, Operation::Update],
    )]
}

/// A test policy bound to Secret writes.
fn spec(name: &str, fixture: &str) -> PolicySpec {
    PolicySpec {
        rules: secrets_rule(),
        ..PolicySpec::new(name, PolicySource::Bytes(component(fixture, "")))
    }
}

fn builtins() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        runtime()
            .load(&PolicyConfig::builtin(), Arc::new(NoKeyLookup))
            .unwrap()
    })
}

fn disabled() -> EncryptionState {
    let mut s = healthy();
    let key = s.key.as_mut().unwrap();
    key.state = KeyState::Disabled;
    key.state_name = "Disabled".into();
    s
}

fn secret_request() -> String {
    data("secret-create-request.json")
}

/// `set`'s decision on the AdmissionRequest `request`, decoded as the webhook decodes it.
fn evaluate(set: &PolicySet, request: &str, state: &EncryptionState) -> Decision {
    set.evaluate(&Review::decode_request(request).unwrap(), state)
}

fn errored(d: &Decision) -> &secretkms_core::policy::EvaluationError {
    match &d.policies[0].outcome {
        Outcome::Errored(e) => e,
        other => panic!("expected an errored evaluation, got {other:?}"),
    }
}

#[test]
fn default_policies_allow_a_healthy_state() {
    let d = evaluate(builtins(), &secret_request(), &healthy());
    assert!(d.allowed(), "{d:?}");
    assert_eq!(
        d.policies.len(),
        1,
        "only the secret-write guard is bound to Secrets"
    );
    assert_eq!(d.policies[0].policy, "secret-write-guard");
    assert!(d.warnings.is_empty(), "{:?}", d.warnings);
}

#[test]
fn default_policies_deny_a_disabled_key_with_the_policy_message() {
    let d = evaluate(builtins(), &secret_request(), &disabled());
    assert_eq!(d.kind, DecisionKind::Denied { code: 403 });
    assert!(
        d.message.starts_with("secret-write-guard: "),
        "{}",
        d.message
    );
    assert!(
        d.message.contains("Disabled") && d.message.contains(KEY_ID),
        "{}",
        d.message
    );
    assert!(matches!(d.policies[0].outcome, Outcome::Denied(_)));
}

#[test]
fn secret_delete_is_never_sent_to_the_default_policies() {
    let delete = secret_request().replace("\"CREATE\"", "\"DELETE\"");
    let d = evaluate(builtins(), &delete, &disabled());
    assert!(d.allowed() && d.policies.is_empty(), "{d:?}");
}

#[test]
fn key_change_guard_asks_the_host_to_describe_the_new_key() {
    let keys = CannedKeys::from_json(&format!(
        r#"{{"{NEW_KEY}": {{"keyId": "{NEW_KEY}", "state": "Disabled", "stateName": "Disabled",
             "spec": "Aliyun_AES_256", "usage": "ENCRYPT/DECRYPT"}}}}"#
    ))
    .unwrap();
    let set = runtime()
        .load(&PolicyConfig::builtin(), Arc::new(keys))
        .unwrap();
    let object = |key: &str| {
        format!(
            r#"{{"apiVersion": "secretkms.io/v1alpha1", "kind": "SecretEncryption", "metadata": {{"name": "cluster"}},
                "spec": {{"provider": "alibaba-kms", "key": "{key}", "region": "cn-hangzhou",
                          "requiredKeySpec": "Aliyun_AES_256", "enforcement": "enforce"}}}}"#
        )
    };
    let request = format!(
        r#"{{"uid": "u-2", "kind": {{"group": "secretkms.io", "version": "v1alpha1", "kind": "SecretEncryption"}},
            "resource": {{"group": "secretkms.io", "version": "v1alpha1", "resource": "secretencryptions"}},
            "name": "cluster", "operation": "UPDATE", "userInfo": {{"username": "ops-admin"}},
            "object": {}, "oldObject": {}}}"#,
        object(NEW_KEY),
        object(KEY_ID)
    );
    let d = evaluate(&set, &request, &healthy());
    assert_eq!(d.policies.len(), 1);
    assert_eq!(d.policies[0].policy, "key-change-guard");
    assert!(!d.allowed());
    assert!(
        d.message.contains(NEW_KEY) && d.message.contains("Disabled"),
        "{}",
        d.message
    );

    // Without a key lookup the guard cannot vouch for the new key either; it says why.
    let d = evaluate(builtins(), &request, &healthy());
    assert!(!d.allowed());
    assert!(
        d.message.contains("no key lookup configured"),
        "{}",
        d.message
    );
}

/// A bare AdmissionRequest creating the SecretEncryption with [`NEW_KEY`], which the key-change
/// guard describes.
fn new_key_declared() -> String {
    format!(
        r#"{{"uid": "u", "kind": {{"group": "secretkms.io", "version": "v1alpha1", "kind": "SecretEncryption"}},
            "resource": {{"group": "secretkms.io", "version": "v1alpha1", "resource": "secretencryptions"}},
            "name": "cluster", "operation": "CREATE", "userInfo": {{"username": "a"}},
            "object": {{"metadata": {{"name": "cluster"}}, "spec": {{"provider": "alibaba-kms", "key": "{NEW_KEY}"}}}}}}"#
    )
}

/// The default policies under names of their own, so their counters are this test's alone.
fn renamed_builtins(prefix: &str) -> PolicySet {
    let mut config = PolicyConfig::builtin();
    for p in &mut config.policies {
        p.name = format!("{prefix}{}", p.name);
    }
    runtime().load(&config, Arc::new(NoKeyLookup)).unwrap()
}

fn memory_grown(policy: &str) -> (u64, u64) {
    let m = runtime()
        .metrics()
        .into_iter()
        .find(|m| m.policy == policy)
        .unwrap_or_else(|| panic!("no metrics for {policy}"));
    (m.evaluations, m.memory_grown)
}

#[test]
fn the_default_policies_decide_typical_reviews_without_growing_their_memory() {
    // The kit's arena allocator serves them from the initial memory, so the pooling allocator
    // changes no page protection for them (README, "What was rebuilt").
    let set = renamed_builtins("arena-");
    for state in [healthy(), disabled()] {
        evaluate(&set, &secret_request(), &state);
        evaluate(&set, &new_key_declared(), &state);
    }
    for policy in ["arena-secret-write-guard", "arena-key-change-guard"] {
        let (evaluations, grown) = memory_grown(policy);
        assert_eq!(evaluations, 2, "{policy}");
        assert_eq!(grown, 0, "{policy} grew its memory");
    }
}

#[test]
fn host_call_time_is_not_charged_to_the_policy_deadline() {
    struct Slow;
    impl KeyLookup for Slow {
        fn describe_key(&self, key: &str) -> Result<KeyFacts, String> {
            std::thread::sleep(Duration::from_millis(60));
            Err(format!("Forbidden.KeyNotFound: {key}"))
        }
    }
    let spec = PolicySpec {
        timeout_ms: 40,
        ..PolicySpec::new(
            "key-change-guard",
            "builtin:key-change-guard".parse().unwrap(),
        )
    };
    let set = runtime()
        .load(
            &PolicyConfig {
                policies: vec![spec],
            },
            Arc::new(Slow),
        )
        .unwrap();
    let request = new_key_declared();
    let d = evaluate(&set, &request, &healthy());
    assert!(d.policies[0].duration >= Duration::from_millis(60));
    match &d.policies[0].outcome {
        Outcome::Denied(v) => assert!(v.message.contains("KeyNotFound"), "{}", v.message),
        other => panic!("a slow lookup must not become a deadline: {other:?}"),
    }
}

#[test]
fn a_hanging_kms_lookup_ends_inside_the_reviews_deadline_with_the_guards_denial() {
    /// Honours the time it is given, as the webhook's KMS lookup does, and records it.
    struct Hanging(std::sync::Mutex<Vec<Duration>>);
    impl KeyLookup for Hanging {
        fn describe_key(&self, _key: &str) -> Result<KeyFacts, String> {
            unreachable!("admission lookups are bounded")
        }
        fn describe_key_within(&self, _key: &str, within: Duration) -> Result<KeyFacts, String> {
            self.0.lock().unwrap().push(within);
            std::thread::sleep(within);
            Err(format!("Timeout: KMS did not answer within {within:?}"))
        }
    }
    let keys = Arc::new(Hanging(Default::default()));
    let set = runtime()
        .load(&PolicyConfig::builtin(), keys.clone())
        .unwrap();
    let request = new_key_declared();
    let review = Review::decode_request(&request).unwrap();
    let until = std::time::Instant::now() + Duration::from_millis(300);
    let d = set.evaluate_until(&review, &healthy(), Some(until));
    let asked = keys.0.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert!(
        asked[0] < Duration::from_millis(300),
        "bounded by the deadline: {asked:?}"
    );
    assert!(!d.allowed(), "fail-closed: the key cannot be vouched for");
    assert!(d.message.contains("Timeout"), "{}", d.message);

    // A policy whose turn comes after the deadline is not run at all.
    let d = set.evaluate_until(&review, &healthy(), Some(std::time::Instant::now()));
    assert_eq!(
        keys.0.lock().unwrap().len(),
        1,
        "nothing asked past the deadline"
    );
    assert!(!d.allowed());
    assert!(
        d.message
            .contains("not run: the review's deadline had passed"),
        "{}",
        d.message
    );
}

#[test]
fn an_endless_loop_hits_its_deadline_and_the_next_evaluation_works() {
    let set = load(vec![
        PolicySpec {
            timeout_ms: 100,
            ..spec("spinner", "loop.wat")
        },
        spec("allower", "allow.wat"),
    ])
    .unwrap();
    for _ in 0..2 {
        // Twice: a trapped store is dropped, the next evaluation starts clean.
        let d = evaluate(&set, &secret_request(), &healthy());
        let e = errored(&d);
        assert_eq!(e.kind, ErrorKind::Deadline);
        assert_eq!(
            e.to_string(),
            "policy spinner failed: deadline of 100ms exceeded"
        );
        let took = d.policies[0].duration;
        // Never early; late only by scheduling. Typically ~101 ms; the slack beyond 2x is for a
        // 2-core CI machine running other builds, where the epoch thread itself waits for a core.
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_millis(250),
            "stopped after {took:?}"
        );
        assert_eq!(d.kind, DecisionKind::Errored);
        assert_eq!(d.code(), 500);
        assert_eq!(
            d.message,
            "policy spinner failed: deadline of 100ms exceeded; denied because its failureMode is fail-closed"
        );
        // The other policy still decided.
        assert!(matches!(d.policies[1].outcome, Outcome::Allowed(_)));
    }
}

#[test]
fn a_memory_hog_is_stopped_at_its_memory_limit() {
    let set = load(vec![PolicySpec {
        memory_limit_bytes: 8 << 20,
        ..spec("hog", "memory-hog.wat")
    }])
    .unwrap();
    let d = evaluate(&set, &secret_request(), &healthy());
    assert_eq!(memory_grown("hog"), (1, 1), "the growth is counted");
    let e = errored(&d);
    assert_eq!(e.kind, ErrorKind::OutOfMemory);
    assert!(
        e.message.contains("memory limit of 8388608 bytes exceeded"),
        "{}",
        e.message
    );
    assert!(!d.allowed());
}

#[test]
fn a_trap_is_reported_as_a_trap() {
    let set = load(vec![spec("crasher", "trap.wat")]).unwrap();
    let d = evaluate(&set, &secret_request(), &healthy());
    let e = errored(&d);
    assert_eq!(e.kind, ErrorKind::Trap);
    assert!(e.message.contains("unreachable"), "{}", e.message);
}

#[test]
fn a_denial_without_a_message_is_a_bad_verdict() {
    let set = load(vec![spec("mute", "deny-silently.wat")]).unwrap();
    let e = errored(&evaluate(&set, &secret_request(), &healthy())).clone();
    assert_eq!(e.kind, ErrorKind::BadVerdict);
    assert_eq!(e.message, "denied without a message");
}

#[test]
fn fail_open_allows_an_errored_evaluation_with_a_warning() {
    let set = load(vec![PolicySpec {
        failure_mode: FailureMode::FailOpen,
        ..spec("crasher", "trap.wat")
    }])
    .unwrap();
    let d = evaluate(&set, &secret_request(), &healthy());
    assert!(d.allowed());
    assert_eq!(d.warnings.len(), 1);
    assert!(
        d.warnings[0].starts_with("policy crasher failed: trapped: "),
        "{}",
        d.warnings[0]
    );
    assert!(d.warnings[0].ends_with("allowed because its failureMode is fail-open"));
    assert!(d.audit_annotations.contains_key("crasher.error"));
}

#[test]
fn audit_mode_turns_a_denial_into_a_warning_and_an_annotation() {
    let spec = PolicySpec {
        mode: Mode::Audit,
        ..PolicySpec::new("guard", "builtin:secret-write-guard".parse().unwrap())
    };
    let set = runtime()
        .load(
            &PolicyConfig {
                policies: vec![spec],
            },
            Arc::new(NoKeyLookup),
        )
        .unwrap();
    let d = evaluate(&set, &secret_request(), &disabled());
    assert!(d.allowed());
    assert!(
        d.warnings
            .iter()
            .any(|w| w.starts_with("guard (audit mode, not enforced): ") && w.contains("Disabled")),
        "{:?}",
        d.warnings
    );
    assert!(d.audit_annotations["guard.denied"].contains("Disabled"));
}

#[test]
fn a_component_for_another_contract_version_is_refused_at_load() {
    let other = component(
        "allow.wat",
        r#"(import "secretkms:policy/host@0.1.0" (instance (export "describe-key" (func (param "key" string) (result string)))))"#,
    );
    let err = load(vec![PolicySpec {
        rules: secrets_rule(),
        ..PolicySpec::new("older", PolicySource::Bytes(other))
    }])
    .unwrap_err();
    assert!(matches!(err, LoadError::Contract { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "policy older: built for secretkms:policy/host@0.1.0 (version 0.1.0), but this host implements \
         secretkms:policy@0.2.0: rebuild the policy against that WIT"
    );
}

#[test]
fn a_component_of_another_world_is_refused_at_load() {
    let not_a_policy = wat::parse_str(r#"(component (core module (func (export "f"))))"#).unwrap();
    let err = load(vec![PolicySpec {
        rules: secrets_rule(),
        ..PolicySpec::new("stranger", PolicySource::Bytes(not_a_policy.into()))
    }])
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("policy stranger: does not fit the world secretkms:policy/policy@0.2.0"),
        "{msg}"
    );
    assert!(msg.contains("validate"), "{msg}");
}

#[test]
fn bytes_that_are_not_a_component_are_refused_at_load() {
    let err = load(vec![PolicySpec {
        rules: secrets_rule(),
        ..PolicySpec::new("junk", PolicySource::Bytes(Arc::from(&b"nope"[..])))
    }])
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("policy junk: not a valid policy component: "),
        "{err}"
    );
}

#[test]
fn a_validate_settings_that_never_returns_fails_the_load_at_the_load_floor() {
    let err = load(vec![PolicySpec {
        timeout_ms: 50,
        ..spec("settings-spinner", "settings-loop.wat")
    }])
    .unwrap_err();
    let LoadError::SettingsFailed { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(source.kind, ErrorKind::Deadline, "{source:?}");
    // The admission budget (50 ms) is not the load's: a cold first call on a busy node may
    // need more, and a load failure is a pod that does not start.
    assert_eq!(
        source.message,
        format!(
            "deadline of {}ms exceeded",
            SETTINGS_TIMEOUT_FLOOR.as_millis()
        ),
        "{source:?}"
    );
    assert_eq!(
        err.to_string(),
        "policy settings-spinner: validate-settings did not complete"
    );
}

#[test]
fn settings_rejected_by_validate_settings_fail_the_load_naming_the_policy() {
    let yaml = "policies:\n- name: strict-guard\n  source: builtin:secret-write-guard\n  settings:\n    maxStateAgeSeconds: 0\n";
    let config = PolicyConfig::from_yaml(yaml, "policies.yaml").unwrap();
    let err = runtime().load(&config, Arc::new(NoKeyLookup)).unwrap_err();
    assert!(matches!(err, LoadError::Settings { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.starts_with("policy strict-guard: settings rejected: ")
            && msg.contains("maxStateAgeSeconds"),
        "{msg}"
    );

    let yaml = "policies:\n- name: typo-guard\n  source: builtin:secret-write-guard\n  settings: {exemptNamespace: [a]}\n";
    let err = runtime()
        .load(
            &PolicyConfig::from_yaml(yaml, "p.yaml").unwrap(),
            Arc::new(NoKeyLookup),
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("typo-guard") && err.to_string().contains("exemptNamespace"),
        "{err}"
    );
}

#[test]
fn configuration_file_errors_name_the_file_and_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let missing = PolicyConfig::from_file(&dir.path().join("absent.yaml")).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("cannot read policy configuration "),
        "{missing}"
    );

    let path = dir.path().join("policies.yaml");
    std::fs::write(&path, "policies:\n- name: a\n  source: builtin:secret-write-guard\n  failureMode: fail-sometimes\n").unwrap();
    let msg = PolicyConfig::from_file(&path).unwrap_err().to_string();
    assert!(
        msg.contains("policies.yaml") && msg.contains("fail-sometimes"),
        "{msg}"
    );

    std::fs::write(&path, "policies: [\n").unwrap();
    assert!(
        PolicyConfig::from_file(&path)
            .unwrap_err()
            .to_string()
            .starts_with("invalid policy configuration")
    );

    std::fs::write(
        &path,
        "policies:\n- name: a\n  source: missing.wasm\n  rules: [{apiGroups: [''], apiVersions: [v1], resources: [secrets], operations: [CREATE]}]\n",
    )
    .unwrap();
    let config = PolicyConfig::from_file(&path).unwrap();
    let err = runtime().load(&config, Arc::new(NoKeyLookup)).unwrap_err();
    assert!(
        err.to_string().starts_with("policy a: cannot read source ")
            && err.to_string().contains("missing.wasm"),
        "{err}"
    );
}

#[test]
fn a_policy_file_loads_through_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("allow.wasm"), component("allow.wat", "")).unwrap();
    let path = dir.path().join("policies.yaml");
    std::fs::write(
        &path,
        "policies:\n- name: allow-all\n  source: allow.wasm\n  rules: [{apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*']}]\n",
    )
    .unwrap();
    let set = runtime()
        .load(
            &PolicyConfig::from_file(&path).unwrap(),
            Arc::new(NoKeyLookup),
        )
        .unwrap();
    let info: Vec<_> = set.policies().collect();
    assert!(info[0].source.ends_with("allow.wasm"));
    assert!(
        matches!(info[0].cache, CacheStatus::Stored | CacheStatus::Hit),
        "{info:?}"
    );
    assert!(evaluate(&set, &secret_request(), &disabled()).allowed());
}

#[test]
fn precompiled_artefacts_are_reused_across_runtimes() {
    let dir = tempfile::tempdir().unwrap();
    let rt_config = || RuntimeConfig {
        cache: CacheDir::At(dir.path().join("cache")),
        max_instances: 4,
        ..RuntimeConfig::default()
    };
    let config = PolicyConfig {
        policies: vec![PolicyConfig::builtin().policies.remove(0)],
    };
    let first = PolicyRuntime::new(rt_config())
        .unwrap()
        .load(&config, Arc::new(NoKeyLookup))
        .unwrap();
    let first = first.policies().next().unwrap();
    assert_eq!(first.cache, CacheStatus::Stored, "{:?}", first.cache_note);
    let second = PolicyRuntime::new(rt_config())
        .unwrap()
        .load(&config, Arc::new(NoKeyLookup))
        .unwrap();
    let info = second.policies().next().unwrap();
    assert_eq!(info.cache, CacheStatus::Hit);
    assert!(
        info.load_time < first.load_time,
        "{:?} vs {:?}",
        info.load_time,
        first.load_time
    );
    assert!(evaluate(&second, &secret_request(), &healthy()).allowed());
}

#[test]
fn evaluations_run_concurrently_from_several_threads() {
    // More threads than this machine's cores: the deadline counts wall time (minus host calls),
    // so a thread preempted for long could miss 50 ms. This test is about isolation between
    // concurrent instances, not about timing, hence the generous deadline.
    let spec = PolicySpec {
        timeout_ms: 5_000,
        ..PolicySpec::new(
            "concurrent-guard",
            "builtin:secret-write-guard".parse().unwrap(),
        )
    };
    let set = &runtime()
        .load(
            &PolicyConfig {
                policies: vec![spec],
            },
            Arc::new(NoKeyLookup),
        )
        .unwrap();
    let before = policy_evaluations("concurrent-guard");
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in 0..50 {
                    let state = if (t + i) % 2 == 0 {
                        healthy()
                    } else {
                        disabled()
                    };
                    let d = evaluate(set, &secret_request(), &state);
                    assert_eq!(d.allowed(), (t + i) % 2 == 0, "{d:?}");
                }
            });
        }
    });
    assert_eq!(policy_evaluations("concurrent-guard"), before + 200);
}

fn policy_evaluations(name: &str) -> u64 {
    runtime()
        .metrics()
        .into_iter()
        .find(|m| m.policy == name)
        .map_or(0, |m| m.evaluations)
}

#[test]
fn metrics_count_outcomes_by_kind() {
    let set = load(vec![PolicySpec {
        failure_mode: FailureMode::FailOpen,
        ..spec("counted-crasher", "trap.wat")
    }])
    .unwrap();
    evaluate(&set, &secret_request(), &healthy());
    evaluate(&set, &secret_request(), &healthy());
    let m = runtime()
        .metrics()
        .into_iter()
        .find(|m| m.policy == "counted-crasher")
        .unwrap();
    assert_eq!(m.evaluations, 2);
    assert_eq!(m.denied, 0);
    assert!(m.errors.contains(&(ErrorKind::Trap, 2)));
    assert_eq!(*m.duration_buckets.last().unwrap(), 2);
}

#[test]
fn an_exhausted_instance_pool_is_an_instantiate_error_not_a_hang() {
    let rt = PolicyRuntime::new(RuntimeConfig {
        max_instances: 1,
        cache: CacheDir::At(Path::new(env!("CARGO_TARGET_TMPDIR")).join("policy-artifacts")),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let keys: Arc<dyn KeyLookup> = Arc::new(NoKeyLookup);
    let config = |spec: PolicySpec| PolicyConfig {
        policies: vec![spec],
    };
    let spinner = rt
        .load(
            &config(PolicySpec {
                timeout_ms: 1_000,
                ..spec("busy", "loop.wat")
            }),
            keys.clone(),
        )
        .unwrap();
    let allower = rt
        .load(&config(spec("waiting", "allow.wat")), keys)
        .unwrap();
    std::thread::scope(|s| {
        let busy = s.spawn(|| evaluate(&spinner, &secret_request(), &healthy()));
        std::thread::sleep(Duration::from_millis(300));
        let d = evaluate(&allower, &secret_request(), &healthy());
        let e = errored(&d);
        assert_eq!(e.kind, ErrorKind::Instantiate, "{e}");
        assert!(
            e.message.starts_with("cannot instantiate: "),
            "{}",
            e.message
        );
        assert_eq!(errored(&busy.join().unwrap()).kind, ErrorKind::Deadline);
    });
    // The slot is free again.
    assert!(evaluate(&allower, &secret_request(), &healthy()).allowed());
}

/// A current-thread executor, where nothing else runs while a future blocks the thread.
fn one_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Counts how often the executor got to poll it: only while the evaluation beside it yields.
async fn count_turns(turns: Arc<std::sync::atomic::AtomicU64>) {
    loop {
        turns.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tokio::task::yield_now().await;
    }
}

#[test]
fn on_an_executor_the_default_policies_decide_as_they_do_on_a_thread() {
    let request = secret_request();
    let review = Review::decode_request(&request).unwrap();
    for state in [healthy(), disabled()] {
        let on_thread = builtins().evaluate_until(&review, &state, None);
        let on_executor = one_thread().block_on(builtins().evaluate_async(&review, &state, None));
        assert_eq!(on_executor.allowed(), on_thread.allowed());
        assert_eq!(on_executor.message, on_thread.message);
        assert_eq!(on_executor.kind, on_thread.kind);
    }
}

#[test]
fn on_an_executor_an_endless_loop_yields_at_every_tick_and_still_hits_its_deadline() {
    let set = load(vec![PolicySpec {
        timeout_ms: 100,
        ..spec("spinner", "loop.wat")
    }])
    .unwrap();
    let request = secret_request();
    let review = Review::decode_request(&request).unwrap();
    let turns = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let d = one_thread().block_on(async {
        tokio::spawn(count_turns(turns.clone()));
        set.evaluate_async(&review, &healthy(), None).await
    });
    assert_eq!(errored(&d).kind, ErrorKind::Deadline, "{d:?}");
    assert!(
        turns.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the spinning guest never let the executor run anything else"
    );
}

#[test]
fn on_an_executor_describe_key_awaits_the_lookup_instead_of_blocking() {
    /// Answers only in async form, after a wait that would block the thread if it were slept.
    struct AsyncOnly;
    impl KeyLookup for AsyncOnly {
        fn describe_key(&self, _key: &str) -> Result<KeyFacts, String> {
            unreachable!("an evaluation on an executor must not call the blocking lookup")
        }
        fn describe_key_within(&self, _: &str, _: Duration) -> Result<KeyFacts, String> {
            unreachable!("an evaluation on an executor must not call the blocking lookup")
        }
        fn describe_key_async<'a>(
            &'a self,
            key: &'a str,
            within: Duration,
        ) -> secretkms_core::policy::LookupFuture<'a> {
            Box::pin(async move {
                assert!(within <= secretkms_core::policy::MAX_KEY_LOOKUP_TIME);
                tokio::time::sleep(Duration::from_millis(30)).await;
                Ok(KeyFacts {
                    key_id: key.to_owned(),
                    state: KeyState::Disabled,
                    state_name: "Disabled".into(),
                    spec: "Aliyun_AES_256".into(),
                    ..Default::default()
                })
            })
        }
    }
    let set = runtime()
        .load(&PolicyConfig::builtin(), Arc::new(AsyncOnly))
        .unwrap();
    let request = new_key_declared();
    let review = Review::decode_request(&request).unwrap();
    let turns = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let until = std::time::Instant::now() + Duration::from_secs(10);
    let d = one_thread().block_on(async {
        tokio::spawn(count_turns(turns.clone()));
        set.evaluate_async(&review, &healthy(), Some(until)).await
    });
    assert!(!d.allowed());
    assert!(
        d.message.contains(NEW_KEY) && d.message.contains("Disabled"),
        "{}",
        d.message
    );
    assert!(
        turns.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "the lookup's wait blocked the executor"
    );
}
