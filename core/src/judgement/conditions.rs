//! The `SecretEncryption` conditions, summarised from the findings so that `kubectl get
//! secretencryption` and `kubectl secretkms status` cannot disagree: a part's condition is
//! `False` while one of its findings fails on a known fact, `Unknown` while its facts are
//! missing or stale, and `Ready` is `False` while any finding fails (the secret-write guard
//! denies writes then).

use secretkms_model::EncryptionState;

use super::{Finding, Level, findings};
use crate::rotation_reach::{self, Moves, Reach};

/// One condition's judgement, before transition times are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    pub type_: &'static str,
    pub status: &'static str,
    pub reason: String,
    pub message: String,
}

fn judged(type_: &'static str, status: &'static str, reason: &str, message: String) -> Judged {
    Judged {
        type_,
        status,
        reason: reason.into(),
        message,
    }
}

/// A condition carrying a finding: its reason, and its message with the fix, so that `kubectl
/// describe` and the Events say what to do.
fn from(type_: &'static str, status: &'static str, f: &Finding) -> Judged {
    let message = match &f.fix {
        Some(fix) => format!("{}; fix: {fix}", f.message),
        None => f.message.clone(),
    };
    judged(type_, status, &f.reason, message)
}

/// The conditions in display order: Ready, KeyUsable, ProviderHealthy, EncryptionConfigured,
/// RewriteComplete.
pub fn conditions(state: &EncryptionState) -> Vec<Judged> {
    let all = findings(state);
    let wrong = |part| failing(&all, part).find(|f| !f.is_unknown());
    let unknown = |part| failing(&all, part).find(|f| f.is_unknown());

    let key_usable = match (&state.key, wrong("key"), unknown("key")) {
        (_, Some(f), _) => from("KeyUsable", "False", f),
        (_, None, Some(f)) => from("KeyUsable", "Unknown", f),
        (None, None, None) => judged(
            "KeyUsable",
            "Unknown",
            "NotObserved",
            "the key's facts are not known".into(),
        ),
        (Some(k), None, None) => judged(
            "KeyUsable",
            "True",
            "KeyEnabled",
            format!("key {} is Enabled ({})", k.key_id, k.spec),
        ),
    };

    let not_observed = |type_| {
        judged(
            type_,
            "Unknown",
            "NotObserved",
            "the apiserver's KMS health is not known".into(),
        )
    };
    let no_provider = failing(&all, "apiserver")
        .find(|f| [NO_KMS_PROVIDER, PLAINTEXT_WRITES, NON_KMS_WRITES].contains(&f.reason.as_str()));
    let configured = match (&state.apiserver, no_provider, unknown("apiserver")) {
        (_, Some(f), _) => from("EncryptionConfigured", "False", f),
        (_, None, Some(f)) => from("EncryptionConfigured", "Unknown", f),
        (None, None, None) => not_observed("EncryptionConfigured"),
        (Some(_), None, None) => judged(
            "EncryptionConfigured",
            "True",
            "KMSProviderConfigured",
            "the apiserver has a KMS provider".into(),
        ),
    };
    let provider_wrong = wrong("apiserver").or_else(|| wrong("plugin"));
    let provider_unknown = unknown("apiserver").or_else(|| unknown("plugin"));
    let healthy = match (&state.apiserver, provider_wrong, provider_unknown) {
        (_, Some(f), _) => from("ProviderHealthy", "False", f),
        (_, None, Some(f)) => from("ProviderHealthy", "Unknown", f),
        (None, None, None) => not_observed("ProviderHealthy"),
        (Some(a), None, None) => judged("ProviderHealthy", "True", "Healthy", a.detail.clone()),
    };

    let rewrite = rewrite_complete(state, &all);

    let parts = [&key_usable, &healthy, &configured];
    let ready = match all.iter().find(|f| f.level == Level::Fail) {
        Some(f) => from("Ready", "False", f),
        None if parts.iter().all(|c| c.status == "True") => judged(
            "Ready",
            "True",
            "Healthy",
            "the key is usable and the apiserver's KMS provider is healthy".into(),
        ),
        None => judged(
            "Ready",
            "Unknown",
            "NotObserved",
            "some facts are not known yet".into(),
        ),
    };
    vec![ready, key_usable, healthy, configured, rewrite]
}

/// Whether the rewrite after a rotation is done, or can be: progress where it is measured (a
/// state file, `kubectl secretkms status`), and from the apiservers' metrics whether a rewrite
/// moves Secrets to the current key version at all (`rotation_reach`). The webhook never lists
/// Secrets, so on its own it can say "cannot move" or "not yet", never "done".
fn rewrite_complete(state: &EncryptionState, all: &[Finding]) -> Judged {
    const TYPE: &str = "RewriteComplete";
    let reach = rotation_reach::from_state(state);
    let blocked = reach.as_ref().and_then(|r| {
        let reason = match r.moves() {
            Moves::No => REWRITE_CANNOT_MOVE,
            Moves::NotYet => KEY_ID_NOT_ADOPTED,
            Moves::Unknown if matches!(r, Reach::NotKms { .. }) => REWRITE_CANNOT_MOVE,
            Moves::Yes | Moves::Unknown => return None,
        };
        Some(judged(
            TYPE,
            "False",
            reason,
            format!("{}: {}", r.layout(), r.explain()),
        ))
    });
    if let Some(blocked) = blocked {
        return blocked;
    }
    match &state.rewrite {
        Some(r) => match all.iter().find(|f| f.part == "rewrite") {
            Some(f) => from(TYPE, "False", f),
            None => judged(
                TYPE,
                "True",
                "AllRewritten",
                format!(
                    "{}/{} Secrets carry rotation time {}",
                    r.done, r.total, r.target
                ),
            ),
        },
        None => judged(
            TYPE,
            "Unknown",
            "NotMeasured",
            match &reach {
                Some(r) => format!(
                    "rewrite progress is measured by `kubectl secretkms status`, not here; on this \
                     cluster ({}): {}",
                    r.layout(),
                    r.explain()
                ),
                None => "rewrite progress is not measured, and the apiservers' metrics were not \
                         read"
                    .into(),
            },
        ),
    }
}

/// The failing findings about `part`.
fn failing<'a>(all: &'a [Finding], part: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
    all.iter()
        .filter(move |f| f.level == Level::Fail && f.part == part)
}

/// A rewrite cannot move Secrets to the current key version on this layout (a constant KMS v2
/// key_id before the apiservers restart, or a provider that is not KMS first).
pub(super) const REWRITE_CANNOT_MOVE: &str = "RewriteCannotMove";
/// Some apiserver still reports the old key version's key_id: Secrets rewritten now stay there.
pub(super) const KEY_ID_NOT_ADOPTED: &str = "KeyIdNotAdopted";

/// The reason of the finding that the apiserver has no KMS provider at all.
pub(super) const NO_KMS_PROVIDER: &str = "NoKMSProvider";
/// An apiserver writes Secrets with `identity` first: plaintext.
pub(super) const PLAINTEXT_WRITES: &str = "PlaintextWrites";
/// An apiserver writes Secrets with a local provider (`aescbc`, `secretbox`, ...) first.
pub(super) const NON_KMS_WRITES: &str = "NonKMSWrites";
