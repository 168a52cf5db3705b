//! The key-change guard: on CREATE, UPDATE and DELETE of the cluster-scoped SecretEncryption
//! (`secretkms.io/v1alpha1`), deny pointing Secret encryption at a key that cannot be used,
//! changing the key while the last rewrite is unfinished, switching encryption off or deleting
//! the settings while Secrets are still encrypted, and any change that weakens the Secret write
//! guard ([`weakening`]), unless forced with the annotation `secretkms.io/force: "true"`.
//!
//! Decisions:
//! - The key is looked up (host `describe-key`) on CREATE and whenever `key`, `region` or
//!   `requiredKeySpec` change, so that tightening a constraint is checked against the live key.
//! - "Secrets are still encrypted" means the apiserver reports a KMS provider, or the
//!   apiserver's state is unknown (fail closed: the force annotation is the way out).
//! - Weakening changes need force whatever the apiserver reports: they silence the write guard
//!   exactly when it has something to deny.
//! - Only the SecretEncryption named `cluster` is used by secretkms; others are allowed with a
//!   warning that says so.
//! - This guard's mode comes from its own settings, never from the resource it guards.

pub mod key_check;
pub mod settings;
pub mod weakening;

use secretkms_policy_kit::verdict::FORBIDDEN;
use secretkms_policy_kit::{
    AdmissionRequest, EncryptionState, Enforcement, KeyLookup, ObjectView, Operation, Policy,
    SecretEncryptionSpec, SettingsError, Verdict, Warnings, export_policy,
};

pub use crate::settings::Settings;
use crate::weakening::{Before, Weakening, weakenings};

/// The annotation that lets an operator switch encryption off, delete the settings or weaken the
/// guard anyway.
pub const FORCE_ANNOTATION: &str = "secretkms.io/force";
/// The only SecretEncryption secretkms reads.
pub const CLUSTER_NAME: &str = "cluster";

/// The policy type exported as the component.
#[derive(Debug)]
pub struct KeyChangeGuard;

impl Policy for KeyChangeGuard {
    type Settings = Settings;

    fn check_settings(settings: &Settings) -> Result<(), SettingsError> {
        settings.check()
    }

    fn validate(
        request: &AdmissionRequest<'_>,
        state: &EncryptionState,
        settings: &Settings,
        keys: &dyn KeyLookup,
    ) -> Verdict {
        decide(request, state, settings, keys)
    }
}

export_policy!(KeyChangeGuard);

/// What an evaluation found before the mode turns it into a verdict.
#[derive(Debug, Default)]
struct Findings {
    denials: Vec<String>,
    warnings: Warnings,
    forced: bool,
}

/// The whole decision.
pub fn decide(
    request: &AdmissionRequest<'_>,
    state: &EncryptionState,
    settings: &Settings,
    keys: &dyn KeyLookup,
) -> Verdict {
    if !request.is_kind("secretkms.io", "v1alpha1", "SecretEncryption") {
        return Verdict::allow();
    }
    let name = request.name().unwrap_or_default();
    if name != CLUSTER_NAME {
        return match request.operation {
            Operation::Create | Operation::Update => Verdict::allow().warn(format!(
                "SecretEncryption {name:?} has no effect: secretkms only reads the one named \
                 {CLUSTER_NAME}"
            )),
            _ => Verdict::allow(),
        };
    }
    let mut f = Findings::default();
    match request.operation {
        Operation::Create => {
            let new = match spec_of(request.object.as_ref()) {
                Ok(spec) => spec,
                Err(v) => return v,
            };
            check_new_key(&new, state, settings, keys, &mut f);
            let forced = is_forced(request.object.as_ref());
            guard_weakenings(weakenings(Before::Nothing, &new, settings), forced, &mut f);
        }
        Operation::Update => {
            let new = match spec_of(request.object.as_ref()) {
                Ok(spec) => spec,
                Err(v) => return v,
            };
            // An old spec that no longer parses counts as unknown, so everything is re-checked.
            let old = spec_of(request.old_object.as_ref()).ok();
            let forced = is_forced(request.object.as_ref());
            if new.key.trim().is_empty() {
                guard_switch_off(
                    "clearing spec.key switches Secret encryption off",
                    state,
                    forced,
                    &mut f,
                );
            } else {
                let key_changed = old.as_ref().is_none_or(|o| o.key != new.key);
                let constraints_changed = old.as_ref().is_none_or(|o| {
                    o.region != new.region || o.required_key_spec != new.required_key_spec
                });
                if key_changed {
                    check_new_key(&new, state, settings, keys, &mut f);
                } else if constraints_changed {
                    key_check::check_key(&new, settings, keys, &mut f.denials, &mut f.warnings);
                }
            }
            let before = old.as_ref().map_or(Before::Unknown, Before::Spec);
            guard_weakenings(weakenings(before, &new, settings), forced, &mut f);
        }
        Operation::Delete => {
            let forced = is_forced(request.old_object.as_ref());
            guard_switch_off(
                "deleting the SecretEncryption stops all secretkms checks",
                state,
                forced,
                &mut f,
            );
        }
        Operation::Connect | Operation::Other => return Verdict::allow(),
    }
    finish(request, settings, f)
}

/// A key the resource is about to point at: checked live, and refused while the rewrite after
/// the previous change is unfinished.
fn check_new_key(
    spec: &SecretEncryptionSpec,
    state: &EncryptionState,
    settings: &Settings,
    keys: &dyn KeyLookup,
    f: &mut Findings,
) {
    key_check::check_key(spec, settings, keys, &mut f.denials, &mut f.warnings);
    if let Some(rw) = &state.rewrite
        && rw.done < rw.total
    {
        f.denials.push(format!(
            "the rewrite after the last key change is unfinished: {} of {} Secrets carry \
             rotation time {}; changing the key now leaves Secrets under two old keys; fix: \
             finish it with kubectl secretkms rewrite, then change the key",
            rw.done, rw.total, rw.target
        ));
    }
}

/// Denies `what` while Secrets may still be encrypted, unless forced.
fn guard_switch_off(what: &str, state: &EncryptionState, forced: bool, f: &mut Findings) {
    let why = match &state.apiserver {
        Some(api) if !api.kms_configured => return,
        Some(_) => "the kube-apiserver still has a KMS provider, so Secrets are encrypted",
        None => {
            "secretkms cannot see the kube-apiserver's KMS provider, so Secrets may still be \
                 encrypted"
        }
    };
    if forced {
        f.forced = true;
        f.warnings
            .push(format!("forced with {FORCE_ANNOTATION}: {what}"));
        return;
    }
    f.denials.push(format!(
        "{what} while {why}; fix: remove the kms provider from the apiserver's \
         EncryptionConfiguration first, or force it with the annotation {FORCE_ANNOTATION}: \
         \"true\" (kubectl annotate secretencryption {CLUSTER_NAME} {FORCE_ANNOTATION}=true)"
    ));
}

/// Denies each change that weakens the guard, unless forced.
fn guard_weakenings(found: Vec<Weakening>, forced: bool, f: &mut Findings) {
    for w in found {
        let change = format!("{} {} → {} weakens the guard", w.field, w.from, w.to);
        if forced {
            f.forced = true;
            f.warnings
                .push(format!("forced with {FORCE_ANNOTATION}: {change}"));
        } else {
            f.denials.push(format!(
                "{change}: {}; fix: {}, or if that is intended add the annotation \
                 {FORCE_ANNOTATION}: \"true\" (kubectl annotate secretencryption {CLUSTER_NAME} \
                 {FORCE_ANNOTATION}=true)",
                w.effect, w.fix
            ));
        }
    }
}

/// The spec of `object`; a verdict (400) when it cannot be read.
fn spec_of(object: Option<&ObjectView<'_>>) -> Result<SecretEncryptionSpec, Verdict> {
    let Some(object) = object else {
        return Err(Verdict::deny(
            400,
            "the request carries no SecretEncryption object",
        ));
    };
    match object.secret_encryption_spec() {
        Ok(spec) => Ok(spec.unwrap_or_default()),
        Err(e) => Err(Verdict::deny(
            400,
            format!("the SecretEncryption's spec is invalid: {e}"),
        )),
    }
}

fn is_forced(object: Option<&ObjectView<'_>>) -> bool {
    object.and_then(|o| o.annotation(FORCE_ANNOTATION)) == Some("true")
}

/// Turns findings into a verdict according to the guard's mode.
fn finish(request: &AdmissionRequest<'_>, settings: &Settings, f: Findings) -> Verdict {
    let Findings {
        denials,
        mut warnings,
        forced,
    } = f;
    // The annotation stays on the object and would force every later change as well.
    if forced && request.operation != Operation::Delete {
        warnings.push(format!(
            "{FORCE_ANNOTATION} stays on the object and forces later changes too; remove it: \
             kubectl annotate secretencryption {CLUSTER_NAME} {FORCE_ANNOTATION}-"
        ));
    }
    let mut verdict = if denials.is_empty() {
        Verdict::allow().with_warnings(warnings)
    } else {
        let reasons = denials.join("; ");
        match settings.enforcement {
            Enforcement::Enforce => Verdict::deny(
                FORBIDDEN,
                format!(
                    "secretkms denied {} of SecretEncryption {}: {reasons}",
                    request.operation,
                    request.display_name()
                ),
            )
            .with_warnings(warnings)
            .annotate("denied", reasons),
            Enforcement::Audit => {
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
    };
    if forced {
        verdict = verdict.annotate("forced-by", request.user_info.username.to_string());
    }
    verdict
}

#[cfg(test)]
mod tests;
