//! What the fuzz targets share: the builtin policies loaded once, a spread of encryption states,
//! and the properties every answer must have. The same properties run over the committed corpus
//! without nightly in `webhook/tests/fuzz_corpus.rs`.

use std::sync::{Arc, OnceLock};

use secretkms_core::policy::{
    CacheDir, Decision, PolicyConfig, PolicyRuntime, PolicySet, RuntimeConfig,
};
use secretkms_core::review::{self, Review};
use secretkms_model::{CannedKeys, EncryptionState};

/// States the policy input path is tried against: healthy, each kind of broken, and unknown.
const STATES: [(&str, &str); 7] = [
    ("healthy", include_str!("../states/healthy.json")),
    ("key-disabled", include_str!("../states/key-disabled.json")),
    ("key-pending-deletion", include_str!("../states/key-pending-deletion.json")),
    ("stale-kms-source", include_str!("../states/stale-kms-source.json")),
    ("no-kms-provider", include_str!("../states/no-kms-provider.json")),
    ("rewrite-unfinished", include_str!("../states/rewrite-unfinished.json")),
    ("unknown", include_str!("../states/unknown.json")),
];

/// Keys the key-change guard can look up through the host import.
const KEYS: &str = include_str!("../keys.json");

/// The builtin policies, compiled once per process.
pub fn policies() -> &'static PolicySet {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    SET.get_or_init(|| {
        let runtime = PolicyRuntime::new(RuntimeConfig {
            cache: CacheDir::Disabled,
            ..Default::default()
        })
        .expect("policy runtime");
        let keys = CannedKeys::from_json(KEYS).expect("fuzz/keys.json");
        runtime
            .load(&PolicyConfig::builtin(), Arc::new(keys))
            .expect("builtin policies")
    })
}

pub fn states() -> &'static [(&'static str, EncryptionState)] {
    static STATES_PARSED: OnceLock<Vec<(&'static str, EncryptionState)>> = OnceLock::new();
    STATES_PARSED.get_or_init(|| {
        STATES
            .iter()
            .map(|(name, json)| (*name, serde_json::from_str(json).expect(name)))
            .collect()
    })
}

/// Decoding: never panics; what decodes has a uid, a request that is a JSON object, and a
/// response that echoes the uid.
pub fn check_decode(data: &[u8]) -> Option<Review<'_>> {
    let review = Review::decode(data).ok()?;
    assert!(!review.head.uid.is_empty(), "decoded a review without uid");
    match serde_json::from_str::<serde_json::Value>(review.request_json) {
        Ok(request) => assert!(request.is_object(), "decoded a request that is not an object"),
        // Known and accepted: the lax RawValue pass does not range-check numbers (`1e999`);
        // the apiserver (Go) cannot emit one, and the policies read typed fields.
        Err(e) if e.to_string().starts_with("number out of range") => {}
        Err(e) => panic!("decoded a request that is not JSON: {e}"),
    }
    let response = review::Response {
        uid: review.head.uid.to_string(),
        allowed: true,
        ..Default::default()
    };
    let echoed: serde_json::Value =
        serde_json::from_slice(&response.to_review_json()).expect("the response is JSON");
    assert_eq!(echoed["response"]["uid"].as_str(), Some(&*review.head.uid));
    Some(review)
}

/// The policy input path: decode, then evaluate against every state. Never panics, and every
/// decision is well formed. A builtin policy that traps on an input is a bug in the policy.
pub fn check_evaluate(data: &[u8]) {
    let Some(review) = check_decode(data) else {
        return;
    };
    for (name, state) in states() {
        check_decision(name, &policies().evaluate(&review, state));
    }
}

fn check_decision(state: &str, d: &Decision) {
    if d.allowed() {
        assert_eq!(d.code(), 0, "[{state}] allowed with code {}", d.code());
    } else {
        assert!(d.code() >= 400, "[{state}] denied with code {}", d.code());
        assert!(!d.message.is_empty(), "[{state}] denied without a message");
    }
    let wire = review::Response::from_decision("u", d.clone());
    assert_eq!(wire.allowed, d.allowed(), "[{state}] wire form disagrees");
    assert_eq!(wire.status.map_or(0, |s| s.code), d.code(), "[{state}] wire code disagrees");
    for w in &d.warnings {
        assert!(
            w.chars().count() <= secretkms_model::warnings::MAX_WARNING_CHARS,
            "[{state}] warning longer than the apiserver keeps"
        );
    }
    let total: usize = d.warnings.iter().map(|w| w.chars().count()).sum();
    assert!(total <= secretkms_model::warnings::MAX_TOTAL_WARNING_CHARS, "[{state}] warnings too long");
    for p in &d.policies {
        if let secretkms_core::policy::Outcome::Errored(e) = &p.outcome {
            assert!(
                e.kind != secretkms_core::policy::ErrorKind::Trap
                    && e.kind != secretkms_core::policy::ErrorKind::BadVerdict,
                "[{state}] builtin policy {} failed: {:?}: {}",
                p.policy,
                e.kind,
                e.message
            );
        }
    }
}
