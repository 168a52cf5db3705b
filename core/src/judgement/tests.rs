//! The judge agrees with the policies: over the state fixtures, the findings `status` shows, the
//! `SecretEncryption` conditions and the verdicts of the committed components
//! (`policies/dist/`, run by this crate's runtime) tell the same story.

use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::policy::{Decision, PolicyConfig, PolicyRuntime, RuntimeConfig};
use crate::review::Review;
use secretkms_model::CannedKeys;

fn fixture(name: &str) -> EncryptionState {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/states")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The state of `healthy.json` with a key of the wrong spec (no fixture file has one).
fn wrong_spec() -> EncryptionState {
    let mut state = fixture("healthy");
    state.key.as_mut().unwrap().spec = "Aliyun_AES_128".into();
    state
}

/// What the builtin policies decide for a Secret CREATE in `default`, and for creating the
/// declared SecretEncryption again with the KMS answering the state's key facts.
fn verdicts(state: &EncryptionState) -> (Decision, Option<Decision>) {
    let keys: CannedKeys = state
        .declared
        .iter()
        .zip(state.key.iter())
        .map(|(d, k)| (d.key.clone(), k.clone()))
        .collect();
    let runtime = PolicyRuntime::new(RuntimeConfig::default()).unwrap();
    let set = runtime
        .load(&PolicyConfig::builtin(), Arc::new(keys))
        .unwrap();
    let secret = serde_json::json!({
        "uid": "00000000-0000-0000-0000-000000000001",
        "kind": {"group": "", "version": "v1", "kind": "Secret"},
        "resource": {"group": "", "version": "v1", "resource": "secrets"},
        "namespace": "default",
        "operation": "CREATE",
        "userInfo": {"username": "judgement-test"},
        "object": {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "probe", "namespace": "default"}}
    });
    let write = set.evaluate(&Review::decode_request(&secret.to_string()).unwrap(), state);
    let key_change = state.declared.as_ref().map(|d| {
        let se = serde_json::json!({
            "uid": "00000000-0000-0000-0000-000000000002",
            "kind": {"group": "secretkms.io", "version": "v1alpha1", "kind": "SecretEncryption"},
            "resource": {"group": "secretkms.io", "version": "v1alpha1", "resource": "secretencryptions"},
            "name": "cluster",
            "operation": "CREATE",
            "userInfo": {"username": "judgement-test"},
            "object": {"apiVersion": "secretkms.io/v1alpha1", "kind": "SecretEncryption",
                       "metadata": {"name": "cluster"},
                       "spec": {"key": d.key, "region": d.region,
                                "requiredKeySpec": d.required_key_spec}}
        });
        set.evaluate(&Review::decode_request(&se.to_string()).unwrap(), state)
    });
    (write, key_change)
}

/// `healthy.json` with the apiserver writing Secrets under `prefix` (empty: identity first).
fn first_provider(prefix: &str) -> EncryptionState {
    let mut state = fixture("healthy");
    state.apiserver.as_mut().unwrap().secret_writers = vec![secretkms_model::SecretWriter {
        apiserver: "sha256:1".into(),
        prefix: prefix.into(),
    }];
    state
}

/// `healthy.json` after the declaration moved to another key whose facts are not in yet.
fn other_key_facts() -> EncryptionState {
    let mut state = fixture("healthy");
    state.key.as_mut().unwrap().requested = state.declared.as_ref().unwrap().key.clone();
    state.declared.as_mut().unwrap().key = "alias/another".into();
    state
}

/// No declaration known because the CRD was never readable.
fn declared_never_read() -> EncryptionState {
    let mut state = fixture("healthy");
    state.declared = None;
    let declared = state
        .sources
        .iter_mut()
        .find(|s| s.name == "declared")
        .unwrap();
    declared.age_seconds = None;
    declared.last_error = Some("the SecretEncryption CRD is not installed: 404".into());
    state
}

struct Row {
    name: &'static str,
    state: EncryptionState,
    /// The worst finding status shows (None: nothing needs attention).
    worst: Option<Level>,
    ready: (&'static str, &'static str),
    key_usable: &'static str,
    /// Whether the secret-write guard allows a Secret CREATE.
    write_allowed: bool,
}

fn table() -> Vec<Row> {
    let row = |name, state, worst, ready, key_usable, write_allowed| Row {
        name,
        state,
        worst,
        ready,
        key_usable,
        write_allowed,
    };
    vec![
        row(
            "healthy",
            fixture("healthy"),
            None,
            ("True", "Healthy"),
            "True",
            true,
        ),
        row(
            "key-disabled",
            fixture("key-disabled"),
            Some(Level::Fail),
            ("False", "KeyDisabled"),
            "False",
            false,
        ),
        row(
            "key-pending-deletion",
            fixture("key-pending-deletion"),
            Some(Level::Fail),
            ("False", "KeyPendingDeletion"),
            "False",
            false,
        ),
        row(
            "wrong-spec",
            wrong_spec(),
            Some(Level::Fail),
            ("False", "WrongKeySpec"),
            "False",
            false,
        ),
        row(
            "no-kms-provider",
            fixture("no-kms-provider"),
            Some(Level::Fail),
            ("False", "NoKMSProvider"),
            "True",
            false,
        ),
        row(
            "stale-kms-source",
            fixture("stale-kms-source"),
            Some(Level::Fail),
            ("False", "StaleFacts"),
            "Unknown",
            false,
        ),
        row(
            "unknown",
            fixture("unknown"),
            Some(Level::Warn),
            ("Unknown", "NotObserved"),
            "Unknown",
            true,
        ),
        row(
            "identity-first",
            first_provider(""),
            Some(Level::Fail),
            ("False", "PlaintextWrites"),
            "True",
            false,
        ),
        row(
            "aescbc-first",
            first_provider("k8s:enc:aescbc:v1:key1:"),
            Some(Level::Fail),
            ("False", "NonKMSWrites"),
            "True",
            false,
        ),
        row(
            "kms-v1-first",
            first_provider("k8s:enc:kms:v1:ack:"),
            None,
            ("True", "Healthy"),
            "True",
            true,
        ),
        row(
            "other-key-facts",
            other_key_facts(),
            Some(Level::Fail),
            ("False", "OtherKeyFacts"),
            "Unknown",
            false,
        ),
        row(
            "declared-never-read",
            declared_never_read(),
            Some(Level::Fail),
            ("False", "DeclaredUnreadable"),
            "True",
            false,
        ),
        row(
            "rewrite-unfinished",
            fixture("rewrite-unfinished"),
            Some(Level::Warn),
            ("True", "Healthy"),
            "True",
            true,
        ),
    ]
}

fn condition<'a>(all: &'a [Judged], type_: &str) -> &'a Judged {
    all.iter().find(|c| c.type_ == type_).unwrap()
}

#[test]
fn status_findings_conditions_and_policy_verdicts_agree_on_every_fixture() {
    for row in table() {
        let name = row.name;
        let found = findings(&row.state);
        let conds = conditions(&row.state);
        let (write, key_change) = verdicts(&row.state);
        let worst = found.iter().map(|f| f.level).max();
        let ready = condition(&conds, "Ready");

        assert_eq!(worst, row.worst, "{name}: worst finding of {found:#?}");
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            row.ready,
            "{name}: Ready {ready:?}"
        );
        assert_eq!(
            condition(&conds, "KeyUsable").status,
            row.key_usable,
            "{name}"
        );
        assert_eq!(write.allowed(), row.write_allowed, "{name}: {write:?}");

        // The three views agree: a failing finding, a Ready that is False and a denied Secret
        // write go together, and a softer finding comes with the guard's warning.
        let failing = worst == Some(Level::Fail);
        assert_eq!(!write.allowed(), failing, "{name}: {write:?} vs {found:#?}");
        assert_eq!(ready.status == "False", failing, "{name}: {ready:?}");
        if write.allowed() {
            assert_eq!(
                !write.warnings.is_empty(),
                worst == Some(Level::Warn),
                "{name}: {:?} vs {found:#?}",
                write.warnings
            );
        }
        // The key checks `key check` prints agree with the key-change guard, which looks the
        // key up before a SecretEncryption may point at it.
        if let (Some(key), Some(d), Some(change)) =
            (&row.state.key, &row.state.declared, key_change)
        {
            let checks = key_checks(key, d.region.as_deref(), required_key_spec(Some(d)));
            let key_fails = checks.iter().any(|c| c.level == Level::Fail);
            let rewrite_pending = row.state.rewrite.as_ref().is_some_and(|r| r.done < r.total);
            assert_eq!(
                !change.allowed(),
                key_fails || rewrite_pending,
                "{name}: key-change guard {change:?} vs checks {checks:#?}"
            );
            assert_eq!(
                condition(&conds, "KeyUsable").status == "False",
                key_fails,
                "{name}"
            );
        }
    }
}

#[test]
fn the_required_spec_defaults_to_aes_256_even_when_the_declaration_leaves_it_empty() {
    let mut state = wrong_spec();
    state.declared.as_mut().unwrap().required_key_spec = String::new();
    let key_usable = condition(&conditions(&state), "KeyUsable").clone();
    assert_eq!(
        (key_usable.status, key_usable.reason.as_str()),
        ("False", "WrongKeySpec")
    );
    assert!(
        findings(&state)
            .iter()
            .any(|f| f.check == "key-spec" && f.level == Level::Fail),
        "status shows the wrong spec too"
    );
}

#[test]
fn a_source_that_never_answered_fails_only_when_something_is_declared() {
    let mut state = fixture("healthy");
    state.key = None;
    let kms = state.sources.iter_mut().find(|s| s.name == "kms").unwrap();
    kms.age_seconds = None;
    kms.last_error = Some("no alibaba cloud credentials found".into());
    let fresh = |s: &EncryptionState| {
        findings(s)
            .into_iter()
            .find(|f| f.check == FRESH)
            .map(|f| (f.level, f.part, f.reason))
    };
    assert_eq!(
        fresh(&state),
        Some((Level::Fail, "key", "SourceFailing".to_string()))
    );
    assert_eq!(
        condition(&conditions(&state), "KeyUsable").status,
        "Unknown"
    );
    state.declared = None;
    assert_eq!(
        fresh(&state),
        Some((Level::Warn, "key", "SourceFailing".to_string()))
    );
}

/// `healthy.json` (rewrite done: 1200/1200) with one apiserver whose KMS v2 plugin reports
/// `key_id`, that apiserver having started at `started` (the key last rotated 2026-04-01).
fn reporting(key_id: &str, started: i64) -> EncryptionState {
    let mut state = fixture("healthy");
    let api = state.apiserver.as_mut().unwrap();
    api.secret_writers = vec![secretkms_model::SecretWriter {
        apiserver: "sha256:1".into(),
        prefix: "k8s:enc:kms:v2:secretkms:".into(),
    }];
    api.key_ids = vec![secretkms_model::KeyIdReport {
        apiserver: "sha256:1".into(),
        provider: "secretkms".into(),
        key_id_hash: crate::apiserver_metrics::id_hash(key_id),
        started_at: Some(started),
    }];
    state
}

#[test]
fn rewrite_complete_says_when_a_rewrite_cannot_move_secrets() {
    let key = fixture("healthy").key.unwrap();
    let per_version = format!("{}/{}", key.key_id, key.primary_key_version.unwrap());
    let before_rotation = 1_770_000_000 - 400 * 86_400;
    let after_rotation = 1_780_000_000;
    let rewrite = |state: &EncryptionState| {
        let c = condition(&conditions(state), "RewriteComplete").clone();
        (c.status, c.reason, c.message)
    };

    // A key_id per version, adopted: progress decides.
    let (status, reason, _) = rewrite(&reporting(&per_version, before_rotation));
    assert_eq!((status, reason.as_str()), ("True", "AllRewritten"));
    // The old version's key_id still reported: not yet, whatever the annotations say.
    let (status, reason, _) = rewrite(&reporting(&format!("{}/old", key.key_id), after_rotation));
    assert_eq!((status, reason.as_str()), ("False", "KeyIdNotAdopted"));
    // A constant key_id (the CMK id) on an apiserver started before the rotation: the
    // annotations say done, but every seed is still wrapped by the old version.
    let (status, reason, message) = rewrite(&reporting(&key.key_id, before_rotation));
    assert_eq!((status, reason.as_str()), ("False", "RewriteCannotMove"));
    assert!(message.contains("Restarting an apiserver"), "{message}");
    // ... and after the apiserver restarted, progress decides again.
    let (status, reason, _) = rewrite(&reporting(&key.key_id, after_rotation));
    assert_eq!((status, reason.as_str()), ("True", "AllRewritten"));
    // Identity first: a rewrite moves Secrets to plaintext, not to the key.
    let (status, reason, _) = rewrite(&first_provider(""));
    assert_eq!((status, reason.as_str()), ("False", "RewriteCannotMove"));

    // The webhook measures no progress: it says where a rewrite would move Secrets.
    let mut unmeasured = reporting(&per_version, before_rotation);
    unmeasured.rewrite = None;
    let (status, reason, message) = rewrite(&unmeasured);
    assert_eq!((status, reason.as_str()), ("Unknown", "NotMeasured"));
    assert!(message.contains("key_id per key version"), "{message}");
    // Facts of another key than the declared one tell nothing of the current key_id.
    unmeasured.key.as_mut().unwrap().requested = "alias/other".into();
    let (_, _, message) = rewrite(&unmeasured);
    assert!(
        !message.contains("all report the current key_id"),
        "{message}"
    );
}
