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
    (
        "key-pending-deletion",
        include_str!("../states/key-pending-deletion.json"),
    ),
    (
        "stale-kms-source",
        include_str!("../states/stale-kms-source.json"),
    ),
    (
        "no-kms-provider",
        include_str!("../states/no-kms-provider.json"),
    ),
    (
        "rewrite-unfinished",
        include_str!("../states/rewrite-unfinished.json"),
    ),
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
        Ok(request) => assert!(
            request.is_object(),
            "decoded a request that is not an object"
        ),
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
    assert_eq!(
        wire.status.map_or(0, |s| s.code),
        d.code(),
        "[{state}] wire code disagrees"
    );
    for w in &d.warnings {
        assert!(
            w.chars().count() <= secretkms_model::warnings::MAX_WARNING_CHARS,
            "[{state}] warning longer than the apiserver keeps"
        );
    }
    let total: usize = d.warnings.iter().map(|w| w.chars().count()).sum();
    assert!(
        total <= secretkms_model::warnings::MAX_TOTAL_WARNING_CHARS,
        "[{state}] warnings too long"
    );
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

// ---- The parsers of untrusted input beyond the AdmissionReview (issue 12). The same properties
// run over their committed corpora without nightly: webhook/tests/fuzz_corpus.rs (state file,
// policy configuration), alibaba/tests/fuzz_corpus.rs, kms-plugin/tests/fuzz_corpus.rs and the
// tests of e2e/src/kms/encrypted_object.rs.

/// The state file: never panics; what parses serialises to JSON that parses back equal.
pub fn check_state_file(data: &[u8]) {
    let Ok(state) = secretkms_webhook::sources::state_file::parse(data) else {
        return;
    };
    let json = serde_json::to_vec(&state).expect("a parsed state serialises");
    let again = secretkms_webhook::sources::state_file::parse(&json)
        .unwrap_or_else(|e| panic!("a serialised state does not parse back: {e}"));
    assert_eq!(again, state, "the state changed through JSON");
}

/// The policy configuration: never panics; the load-time check holds what it promises; every
/// source prints as text that parses back to it.
pub fn check_policy_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(config) = secretkms_core::policy::PolicyConfig::from_yaml(text, "<fuzz>") else {
        return;
    };
    // What loading checks first, with the runtime's default memory ceiling.
    let max_memory = RuntimeConfig::default().max_memory_bytes;
    if config.check(max_memory).is_ok() {
        for spec in &config.policies {
            assert!(
                !spec.name.is_empty() && spec.name.len() <= 63,
                "name {:?} passed",
                spec.name
            );
            assert!(spec.memory_limit_bytes <= max_memory, "memory limit passed");
        }
    }
    for spec in &config.policies {
        let shown = spec.source.to_string();
        let back: secretkms_core::policy::PolicySource = shown
            .parse()
            .unwrap_or_else(|e| panic!("source {shown:?} does not parse back: {e}"));
        assert_eq!(back, spec.source, "source {shown:?} parses back as another");
    }
}

/// What the requests of the alibaba target carry; no error may quote them.
const SECRETS: [&str; 2] = ["AKSECRETfuzz0000", "STSTOKENfuzz1111"];
const STATUSES: [u16; 12] = [200, 204, 206, 299, 400, 403, 404, 409, 429, 500, 503, 302];

fn no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} quotes a secret: {text}");
    }
}

fn check_answer<T: serde::de::DeserializeOwned>(action: &'static str, status: u16, body: &[u8]) {
    use secretkms_alibaba::openapi::decode_answer;
    if let Err(e) = decode_answer::<T>("kms", action, status, body, &SECRETS) {
        no_secret(action, &e.to_string());
        assert!(
            !(200..300).contains(&status) || !e.is_retryable() || status >= 500,
            "{action}: a 2xx answer is retryable: {e}"
        );
    } else {
        assert!(
            (200..300).contains(&status),
            "{action}: http {status} decoded as an answer"
        );
    }
}

/// Alibaba answers: never panic; a non-2xx status never decodes as an answer, errors never
/// quote the request's secrets, credentials always carry their expiry.
pub fn check_alibaba_answer(data: &[u8]) {
    use secretkms_alibaba::{credentials, kms, sts};
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(pick) % STATUSES.len()];
    check_answer::<serde_json::Value>("Decrypt", status, body);
    check_answer::<kms::DescribeKeyResponse>("DescribeKey", status, body);
    check_answer::<kms::ListKeyVersionsResponse>("ListKeyVersions", status, body);
    check_answer::<kms::EncryptResponse>("Encrypt", status, body);
    check_answer::<kms::ListAliasesResponse>("ListAliases", status, body);
    check_answer::<sts::CallerIdentity>("GetCallerIdentity", status, body);

    let url = url::Url::parse("https://sts.aliyuncs.com/").unwrap();
    match credentials::parse_sts_answer("rrsa", "AssumeRoleWithOIDC", &url, status, body, &SECRETS)
    {
        Ok(c) => {
            assert!(
                (200..300).contains(&status),
                "sts http {status} gave credentials"
            );
            assert!(c.expiration.is_some(), "sts credentials without expiry");
        }
        Err(e) => no_secret("sts", &e.to_string()),
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let url = url::Url::parse("http://127.0.0.1:1/latest/meta-data/ram/security-credentials/r")
            .unwrap();
        if let Ok(c) = credentials::parse_ecs_role_credentials(&url, "r", text) {
            assert!(c.expiration.is_some(), "ecs credentials without expiry");
        }
    }
}

/// The etcd envelope reader, compiled from its own source (the e2e crate is too heavy a
/// dependency: a whole control plane).
#[path = "../../e2e/src/kms/encrypted_object.rs"]
#[allow(dead_code)]
pub mod encrypted_object;

/// The etcd envelope: never panics; what decodes re-encodes and decodes equal.
pub fn check_etcd_envelope(data: &[u8]) {
    use encrypted_object::EncryptedObject;
    use prost::Message as _;
    let round_trip = |o: &EncryptedObject| {
        let again = EncryptedObject::decode(o.encode_to_vec().as_slice())
            .expect("re-encoded object decodes");
        assert_eq!(&again, o, "the object changed through the wire");
    };
    match EncryptedObject::from_stored("secretkms", data) {
        Ok(o) => round_trip(&o),
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Ok(o) = EncryptedObject::decode(data) {
        round_trip(&o);
    }
}

fn round_trip<M: prost::Message + Default + PartialEq + std::fmt::Debug>(data: &[u8]) -> Option<M> {
    let m = M::decode(data).ok()?;
    let again = M::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
    assert_eq!(again, m, "the message changed through the wire");
    Some(m)
}

/// The plugin's messages: never panic, round-trip; a Decrypt request's claim is consistent.
pub fn check_kms_plugin_message(data: &[u8]) {
    use secretkms_kms_plugin::key_claim::KeyClaim;
    use secretkms_kms_plugin::key_id::{
        KeyVersionRef, MAX_KEY_ID_LEN, is_fully_qualified_domain_name,
    };
    use secretkms_kms_plugin::proto::{v1beta1, v2};
    round_trip::<v2::StatusRequest>(data);
    round_trip::<v2::StatusResponse>(data);
    round_trip::<v2::EncryptRequest>(data);
    round_trip::<v2::DecryptResponse>(data);
    round_trip::<v1beta1::VersionRequest>(data);
    round_trip::<v1beta1::VersionResponse>(data);
    round_trip::<v1beta1::EncryptRequest>(data);
    round_trip::<v1beta1::EncryptResponse>(data);
    round_trip::<v1beta1::DecryptRequest>(data);
    round_trip::<v1beta1::DecryptResponse>(data);
    if let Some(r) = round_trip::<v2::EncryptResponse>(data) {
        for name in r.annotations.keys() {
            let _ = is_fully_qualified_domain_name(name);
        }
    }
    let Some(req) = round_trip::<v2::DecryptRequest>(data) else {
        return;
    };
    if let Ok(r) = KeyVersionRef::parse(&req.key_id) {
        assert!(req.key_id.len() <= MAX_KEY_ID_LEN);
        assert_eq!(r.to_string(), req.key_id, "key_id does not print back");
    }
    let claim = KeyClaim::from_v2(&req.key_id, &req.annotations);
    let actual = KeyVersionRef::new("key-fuzz", "version-fuzz");
    let disagreement = claim.disagreement(&actual);
    if !claim.conflicts.is_empty() {
        assert!(disagreement.is_some(), "a claim with conflicts agrees");
    }
    let agreeing = KeyVersionRef::new(
        claim.key.clone().unwrap_or_else(|| "key-fuzz".into()),
        claim
            .version
            .clone()
            .unwrap_or_else(|| "version-fuzz".into()),
    );
    assert_eq!(
        claim.disagreement(&agreeing).is_some(),
        !claim.conflicts.is_empty(),
        "a claim disagrees with the key it names"
    );
}
