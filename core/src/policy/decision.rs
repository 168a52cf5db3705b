//! Merging the policies' outcomes into one admission decision: deny wins, every denial message is
//! kept, `mode` and `failureMode` are applied, warnings are deduplicated and fitted to the
//! apiserver's limits, and audit annotations are keyed by policy.

use std::collections::BTreeMap;
use std::time::Duration;

use secretkms_model::warnings::Warnings;

use super::{FailureMode, Mode, Outcome};

/// One policy's part in a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    pub policy: String,
    pub mode: Mode,
    pub failure_mode: FailureMode,
    pub outcome: Outcome,
    /// Wall time of the evaluation, including instantiation and host calls.
    pub duration: Duration,
}

/// What a decision comes to, kept in three kinds that a host puts on the wire each as what it is
/// (docs/decisions/0002-admission-wire-forms.md), never telling them apart by their code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecisionKind {
    /// Every matching policy allowed, or its denial or failure was not enforced (audit mode,
    /// fail-open).
    #[default]
    Allowed,
    /// An enforcing policy denied: a verdict shown to the user, with the first enforcing
    /// denial's code (400..=599, 403 by convention). Wins over errors of other policies.
    Denied { code: u16 },
    /// No enforcing policy denied, but an enforcing fail-closed policy could not decide (trap,
    /// deadline, memory, bad verdict): refused with [`DecisionKind::ERRORED_CODE`].
    Errored,
}

impl DecisionKind {
    /// The status code of an errored decision.
    pub const ERRORED_CODE: u16 = 500;

    /// The status code the decision goes out with: 0 when allowed.
    pub fn code(self) -> u16 {
        match self {
            DecisionKind::Allowed => 0,
            DecisionKind::Denied { code } => code,
            DecisionKind::Errored => Self::ERRORED_CODE,
        }
    }
}

/// The merged answer to one AdmissionRequest.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub kind: DecisionKind,
    /// When not allowed: each denying policy's message as `<policy>: <message>` and each
    /// fail-closed error as `policy <policy> failed: ...`, joined by `; `. Empty when allowed.
    pub message: String,
    /// Deduplicated and fitted to the apiserver's limits by [`Warnings`].
    pub warnings: Vec<String>,
    /// `<policy>.<key>` → value. Keys are valid annotation names, so the apiserver can store them
    /// as `<webhook name>/<key>`. An audit-mode denial adds `<policy>.denied`; an error handled by
    /// its failure mode adds `<policy>.error`.
    pub audit_annotations: BTreeMap<String, String>,
    /// Every policy that matched the request, in configuration order.
    pub policies: Vec<PolicyResult>,
}

impl Decision {
    /// Longest audit annotation key part (a qualified name's name part).
    const MAX_ANNOTATION_KEY_CHARS: usize = 63;

    pub fn allowed(&self) -> bool {
        self.kind == DecisionKind::Allowed
    }

    /// See [`DecisionKind::code`].
    pub fn code(&self) -> u16 {
        self.kind.code()
    }

    /// Merges outcomes; no policies means allowed.
    pub fn merge(policies: Vec<PolicyResult>) -> Self {
        let mut denials: Vec<String> = Vec::new();
        let mut verdict_code = None;
        let mut errored = false;
        let mut warnings = Warnings::new();
        let mut annotations = BTreeMap::new();
        for p in &policies {
            let name = &p.policy;
            match (&p.outcome, p.mode) {
                (Outcome::Allowed(v), _) => {
                    warnings.extend(&v.warnings);
                    add_annotations(&mut annotations, name, &v.audit_annotations);
                }
                (Outcome::Denied(v), Mode::Enforce) => {
                    denials.push(format!("{name}: {}", v.message));
                    verdict_code.get_or_insert(v.code);
                    warnings.extend(&v.warnings);
                    add_annotations(&mut annotations, name, &v.audit_annotations);
                }
                (Outcome::Denied(v), Mode::Audit) => {
                    warnings.push(format!("{name} (audit mode, not enforced): {}", v.message));
                    warnings.extend(&v.warnings);
                    add_annotations(&mut annotations, name, &v.audit_annotations);
                    annotations.insert(annotation_key(name, "denied"), v.message.clone());
                }
                (Outcome::Errored(e), mode) => {
                    annotations.insert(annotation_key(name, "error"), e.message.clone());
                    match (p.failure_mode, mode) {
                        (FailureMode::FailClosed, Mode::Enforce) => {
                            errored = true;
                            denials.push(format!(
                                "{e}; denied because its failureMode is fail-closed"
                            ));
                        }
                        (FailureMode::FailClosed, Mode::Audit) => {
                            warnings.push(format!("{e} (audit mode: fail-closed not enforced)"));
                            annotations.insert(annotation_key(name, "denied"), e.to_string());
                        }
                        (FailureMode::FailOpen, _) => {
                            warnings
                                .push(format!("{e}; allowed because its failureMode is fail-open"));
                        }
                    }
                }
            }
        }
        let kind = match (verdict_code, errored) {
            (Some(code), _) => DecisionKind::Denied { code },
            (None, true) => DecisionKind::Errored,
            (None, false) => DecisionKind::Allowed,
        };
        Self {
            kind,
            message: denials.join("; "),
            warnings: warnings.into_vec(),
            audit_annotations: annotations,
            policies,
        }
    }
}

fn add_annotations(into: &mut BTreeMap<String, String>, policy: &str, from: &[(String, String)]) {
    for (k, v) in from {
        into.insert(annotation_key(policy, k), v.clone());
    }
}

/// `<policy>.<key>` made a valid annotation name: characters outside `[A-Za-z0-9._-]` become
/// `-`, at most 63 characters, alphanumeric at both ends.
fn annotation_key(policy: &str, key: &str) -> String {
    let raw = format!("{policy}.{key}");
    let mut k: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(Decision::MAX_ANNOTATION_KEY_CHARS)
        .collect();
    while k.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        k.pop();
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ErrorKind, EvaluationError, Verdict};
    use secretkms_model::warnings::{MAX_TOTAL_WARNING_CHARS, MAX_WARNING_CHARS};

    fn result(
        policy: &str,
        mode: Mode,
        failure_mode: FailureMode,
        outcome: Outcome,
    ) -> PolicyResult {
        PolicyResult {
            policy: policy.into(),
            mode,
            failure_mode,
            outcome,
            duration: Duration::ZERO,
        }
    }

    fn verdict(allowed: bool, message: &str, warnings: &[&str]) -> Verdict {
        Verdict {
            allowed,
            code: if allowed { 0 } else { 403 },
            message: message.into(),
            warnings: warnings.iter().map(|w| (*w).into()).collect(),
            audit_annotations: vec![("reason".into(), message.into())],
        }
    }

    fn errored(policy: &str) -> Outcome {
        Outcome::Errored(EvaluationError {
            policy: policy.into(),
            kind: ErrorKind::Deadline,
            message: "deadline of 50ms exceeded".into(),
        })
    }

    use FailureMode::*;
    use Mode::*;

    #[test]
    fn nothing_matched_is_allowed() {
        let d = Decision::merge(vec![]);
        assert_eq!(d.kind, DecisionKind::Allowed);
        assert!(d.allowed());
        assert_eq!(d.code(), 0);
    }

    #[test]
    fn deny_wins_and_every_denial_message_is_kept() {
        let d = Decision::merge(vec![
            result(
                "a",
                Enforce,
                FailClosed,
                Outcome::Allowed(verdict(true, "", &["w1"])),
            ),
            result(
                "b",
                Enforce,
                FailClosed,
                Outcome::Denied(verdict(false, "key is Disabled", &["w1", "w2"])),
            ),
            result(
                "c",
                Enforce,
                FailClosed,
                Outcome::Denied(verdict(false, "rewrite unfinished", &[])),
            ),
        ]);
        assert_eq!(d.kind, DecisionKind::Denied { code: 403 });
        assert_eq!(d.message, "b: key is Disabled; c: rewrite unfinished");
        assert_eq!(d.warnings, ["w1", "w2"]);
        assert_eq!(d.audit_annotations["b.reason"], "key is Disabled");
    }

    #[test]
    fn audit_mode_allows_with_a_warning_and_an_annotation() {
        let d = Decision::merge(vec![result(
            "guard",
            Audit,
            FailClosed,
            Outcome::Denied(verdict(false, "key is Disabled", &[])),
        )]);
        assert!(d.allowed());
        assert_eq!(
            d.warnings,
            ["guard (audit mode, not enforced): key is Disabled"]
        );
        assert_eq!(d.audit_annotations["guard.denied"], "key is Disabled");
    }

    #[test]
    fn failure_modes_decide_errored_evaluations() {
        let closed = Decision::merge(vec![result("p", Enforce, FailClosed, errored("p"))]);
        assert_eq!(closed.kind, DecisionKind::Errored);
        assert_eq!(closed.code(), 500);
        assert_eq!(
            closed.message,
            "policy p failed: deadline of 50ms exceeded; denied because its failureMode is fail-closed"
        );
        assert_eq!(
            closed.audit_annotations["p.error"],
            "deadline of 50ms exceeded"
        );

        let open = Decision::merge(vec![result("p", Enforce, FailOpen, errored("p"))]);
        assert_eq!(open.kind, DecisionKind::Allowed);
        assert_eq!(
            open.warnings,
            [
                "policy p failed: deadline of 50ms exceeded; allowed because its failureMode is fail-open"
            ]
        );

        let audit = Decision::merge(vec![result("p", Audit, FailClosed, errored("p"))]);
        assert_eq!(audit.kind, DecisionKind::Allowed);
        assert!(audit.audit_annotations.contains_key("p.denied"));
    }

    #[test]
    fn a_verdict_wins_over_an_error_and_keeps_its_code() {
        let mut invalid = verdict(false, "spec.key is not a key id", &[]);
        invalid.code = 422;
        let d = Decision::merge(vec![
            result("p", Enforce, FailClosed, errored("p")),
            result("q", Enforce, FailClosed, Outcome::Denied(invalid)),
        ]);
        assert_eq!(d.kind, DecisionKind::Denied { code: 422 });
        assert!(
            d.message.starts_with("policy p failed: ")
                && d.message.ends_with("; q: spec.key is not a key id"),
            "{}",
            d.message
        );
    }

    #[test]
    fn warnings_fit_the_apiserver_limits() {
        let long = "x".repeat(1000);
        let many: Vec<String> = (0..100)
            .map(|i| format!("{i}{}", "y".repeat(200)))
            .collect();
        let mut ws = vec![long.as_str(), "line\nbreak"];
        ws.extend(many.iter().map(String::as_str));
        let d = Decision::merge(vec![result(
            "p",
            Enforce,
            FailClosed,
            Outcome::Allowed(verdict(true, "", &ws)),
        )]);
        assert!(
            d.warnings
                .iter()
                .all(|w| w.chars().count() <= MAX_WARNING_CHARS)
        );
        assert_eq!(d.warnings[0].chars().count(), MAX_WARNING_CHARS);
        assert_eq!(d.warnings[1], "line break");
        let total: usize = d.warnings.iter().map(|w| w.chars().count()).sum();
        assert!(total <= MAX_TOTAL_WARNING_CHARS, "{total}");
        assert!(
            d.warnings
                .last()
                .unwrap()
                .contains("more warning(s) left out")
        );
    }

    #[test]
    fn annotation_keys_are_valid_names() {
        assert_eq!(annotation_key("guard", "key state"), "guard.key-state");
        assert_eq!(annotation_key("guard", "x/"), "guard.x");
        assert_eq!(annotation_key("g", &"k".repeat(100)).len(), 63);
    }
}
