//! The secret-write guard: on CREATE and UPDATE of core/v1 Secrets, deny while Secret encryption
//! is misconfigured or its state is unknown, and warn about softer findings. DELETE and every
//! other kind pass untouched.
//!
//! Decisions documented here because they would otherwise be argued again:
//! - No SecretEncryption declared: allow with a warning. Without a declaration nobody asked for
//!   enforcement, and denying every Secret write in a cluster that merely installed the webhook
//!   would break it. But a declaration that has never been read (CRD missing, RBAC) is not "none":
//!   it denies with the source's error (fail closed), because the webhook stays ready — with
//!   `failurePolicy: Ignore` an unready webhook would let every write through unchecked. A
//!   `declared` source that is stale while its last copy is known denies as usual.
//! - The first provider for Secrets must be KMS: a healthy KMS check with `identity` or `aescbc`
//!   first still writes Secrets in plaintext or under a local key ([`rules::secret_writers`]).
//! - Key facts count only for the declared key ([`rules::key_of_the_declaration`]).
//! - Audit mode (`enforcement: audit` declared, or this policy's `enforcement` setting): every
//!   would-be denial becomes a warning plus the audit annotation `would-deny`.
//! - The plugin key_id rule is described on [`rules::plugin`].
//! - Removing finalizers from a Secret being deleted is admitted while unhealthy, as far as
//!   [`finalizers`] shows it is safe: otherwise such a Secret could never finish deleting.

pub mod finalizers;
pub mod rules;
pub mod settings;

use secretkms_policy_kit::verdict::FORBIDDEN;
use secretkms_policy_kit::{
    AdmissionRequest, EncryptionState, Enforcement, KeyLookup, Operation, Policy, SettingsError,
    Verdict, Warnings, export_policy,
};

use crate::finalizers::{FinalizerRemoval, finalizer_removal};
use crate::rules::{Context, Findings};
pub use crate::settings::Settings;

/// The policy type exported as the component.
#[derive(Debug)]
pub struct SecretWriteGuard;

impl Policy for SecretWriteGuard {
    type Settings = Settings;

    fn check_settings(settings: &Settings) -> Result<(), SettingsError> {
        settings.check()
    }

    fn validate(
        request: &AdmissionRequest<'_>,
        state: &EncryptionState,
        settings: &Settings,
        _keys: &dyn KeyLookup,
    ) -> Verdict {
        decide(request, state, settings)
    }
}

export_policy!(SecretWriteGuard);

/// The whole decision, without host access (the guard needs no live lookups).
pub fn decide(
    request: &AdmissionRequest<'_>,
    state: &EncryptionState,
    settings: &Settings,
) -> Verdict {
    if !request.is_kind("", "v1", "Secret")
        || !matches!(request.operation, Operation::Create | Operation::Update)
    {
        return Verdict::allow();
    }
    let namespace = request.namespace().unwrap_or_default();
    let declared_exempt = state
        .declared
        .iter()
        .flat_map(|d| d.exempt_namespaces.iter());
    if settings
        .exempt_namespaces
        .iter()
        .chain(declared_exempt)
        .any(|ns| ns == namespace)
    {
        return Verdict::allow().annotate("exempt-namespace", namespace);
    }
    let Some(declared) = &state.declared else {
        return not_configured(request, state, settings);
    };

    let cx = Context {
        state,
        declared,
        settings,
    };
    let removal = finalizer_removal(request);
    let mut findings = Findings::default();
    match removal {
        Some(FinalizerRemoval::Deletes) => {
            return Verdict::allow()
                .annotate("finalizer-removal", FinalizerRemoval::Deletes.describe());
        }
        Some(FinalizerRemoval::Rewrites) => rules::secret_writers(&cx, &mut findings),
        None => {
            rules::apiserver_provider(&cx, &mut findings);
            rules::secret_writers(&cx, &mut findings);
            rules::key_of_the_declaration(&cx, &mut findings);
            rules::plugin(&cx, &mut findings);
            rules::key_state(&cx, &mut findings);
            rules::key_spec(&cx, &mut findings);
            rules::stale_sources(&cx, &mut findings);
            rules::key_unobserved(&cx, &mut findings);
            rules::soft_warnings(&cx, &mut findings);
        }
    }

    let enforce = settings
        .enforcement
        .map(|e| e == Enforcement::Enforce)
        .unwrap_or(declared.enforce);
    let Findings { denials, warnings } = findings;
    if denials.is_empty() {
        let allowed = Verdict::allow().with_warnings(warnings);
        return match removal {
            Some(removal) => allowed.annotate("finalizer-removal", removal.describe()),
            None => allowed,
        };
    }
    let reasons = denials.join("; ");
    if enforce {
        Verdict::deny(
            FORBIDDEN,
            format!(
                "secretkms denied {} of Secret {}: {reasons}",
                request.operation,
                request.display_name()
            ),
        )
        .with_warnings(warnings)
        .annotate("denied", reasons)
    } else {
        let mut audit = Warnings::new();
        for reason in &denials {
            audit.push(format!("secretkms audit mode, would deny: {reason}"));
        }
        audit.extend(warnings.into_vec());
        Verdict::allow()
            .with_warnings(audit)
            .annotate("would-deny", reasons)
    }
}

/// No SecretEncryption is known. If the `declared` source has never answered, whether Secret
/// encryption is required is unknown: deny with the source's error (fail closed), unless this
/// policy's settings say audit. Otherwise nobody asked for enforcement: allow, saying why
/// nothing is guarded (with the error, when the source failed after answering "none").
fn not_configured(
    request: &AdmissionRequest<'_>,
    state: &EncryptionState,
    settings: &Settings,
) -> Verdict {
    let declared = state.source("declared");
    let error = declared.and_then(|s| s.last_error.as_deref());
    let never_answered = declared.is_some_and(|s| s.age_seconds.is_none());
    match error {
        _ if never_answered => {
            let reason = match error {
                Some(error) => format!(
                    "the SecretEncryption named cluster has never been read ({error}), so \
                     whether Secret encryption is required is unknown; fix: install the \
                     secretkms CRD and let the webhook get, list and watch \
                     secretencryptions.secretkms.io"
                ),
                None => "the SecretEncryption named cluster has not been read yet, so whether \
                         Secret encryption is required is unknown; fix: retry in a few seconds"
                    .to_owned(),
            };
            if settings.enforcement == Some(Enforcement::Audit) {
                Verdict::allow()
                    .warn(format!("secretkms audit mode, would deny: {reason}"))
                    .annotate("would-deny", reason)
            } else {
                Verdict::deny(
                    FORBIDDEN,
                    format!(
                        "secretkms denied {} of Secret {}: {reason}",
                        request.operation,
                        request.display_name()
                    ),
                )
                .annotate("denied", reason)
            }
        }
        Some(error) => Verdict::allow().warn(format!(
            "secretkms cannot read the SecretEncryption named cluster ({error}); the last \
             answer was that none exists, so Secret writes are not guarded; fix: let the \
             webhook get secretencryptions.secretkms.io"
        )),
        None => Verdict::allow().warn(
            "secretkms is not configured: no SecretEncryption named cluster exists, so Secret \
             writes are not guarded; fix: create one (kubectl secretkms status shows how)",
        ),
    }
}

#[cfg(test)]
mod tests;
