//! The secret-write guard: on CREATE and UPDATE of core/v1 Secrets, deny while Secret encryption
//! is misconfigured or its state is unknown, and warn about softer findings. DELETE and every
//! other kind pass untouched.
//!
//! Decisions documented here because they would otherwise be argued again:
//! - No SecretEncryption declared: allow with a warning. Without a declaration nobody asked for
//!   enforcement, and denying every Secret write in a cluster that merely installed the webhook
//!   would break it. The same holds when the declaration cannot be read (the warning carries
//!   the error); a `declared` source that is stale while its last copy is known denies as usual.
//! - Audit mode (`enforcement: audit` declared, or this policy's `enforcement` setting): every
//!   would-be denial becomes a warning plus the audit annotation `would-deny`.
//! - The plugin key_id rule is described on [`rules::plugin`].

pub mod rules;
pub mod settings;

use secretkms_policy_kit::verdict::FORBIDDEN;
use secretkms_policy_kit::{
    AdmissionRequest, EncryptionState, Enforcement, KeyLookup, Operation, Policy, SettingsError,
    Verdict, Warnings, export_policy,
};

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
        return not_configured(state);
    };

    let cx = Context {
        state,
        declared,
        settings,
    };
    let mut findings = Findings::default();
    rules::apiserver_provider(&cx, &mut findings);
    rules::plugin(&cx, &mut findings);
    rules::key_state(&cx, &mut findings);
    rules::key_spec(&cx, &mut findings);
    rules::stale_sources(&cx, &mut findings);
    rules::key_unobserved(&cx, &mut findings);
    rules::soft_warnings(&cx, &mut findings);

    let enforce = settings
        .enforcement
        .map(|e| e == Enforcement::Enforce)
        .unwrap_or(declared.enforce);
    let Findings { denials, warnings } = findings;
    if denials.is_empty() {
        return Verdict::allow().with_warnings(warnings);
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

/// No SecretEncryption is known: allow, saying why nothing is guarded.
fn not_configured(state: &EncryptionState) -> Verdict {
    match state
        .source("declared")
        .and_then(|s| s.last_error.as_deref())
    {
        Some(error) => Verdict::allow().warn(format!(
            "secretkms cannot read the SecretEncryption named cluster ({error}), so Secret \
             writes are not guarded; fix: let the webhook get secretencryptions.secretkms.io"
        )),
        None => Verdict::allow().warn(
            "secretkms is not configured: no SecretEncryption named cluster exists, so Secret \
             writes are not guarded; fix: create one (kubectl secretkms status shows how)",
        ),
    }
}

#[cfg(test)]
mod tests;
