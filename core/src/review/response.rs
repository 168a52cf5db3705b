//! The response half of an AdmissionReview, and the one place where a policy set's
//! [`Decision`] becomes wire form (docs/decisions/0002-admission-wire-forms.md): chosen by the
//! decision's kind, never guessed from its code.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy::{Decision, DecisionKind};

/// `status` of a response; only set when the request is not allowed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Status {
    /// Always `Failure`: the apiserver would set it anyway, we say it ourselves.
    #[serde(default)]
    pub status: String,
    pub code: u16,
    pub message: String,
    /// The Kubernetes `StatusReason` of `code` (`Forbidden`, `Invalid`, ...), when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
}

impl Status {
    fn failure(code: u16, reason: Option<&str>, message: String) -> Self {
        Self {
            status: "Failure".into(),
            code,
            message,
            reason: reason.map(str::to_owned),
        }
    }
}

/// The response part of an AdmissionReview.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub audit_annotations: BTreeMap<String, String>,
}

impl Response {
    /// The answer to the review `uid`:
    /// - allowed: `allowed: true`, no status;
    /// - denied by a policy's verdict: the policy's code, with the reason Kubernetes gives that
    ///   code (403 `Forbidden`, 422 `Invalid`, ...);
    /// - errored (a fail-closed policy could not decide): code 500, reason `InternalError`.
    ///
    /// Warnings and audit annotations travel in every case.
    pub fn from_decision(uid: impl Into<String>, decision: Decision) -> Self {
        let Decision {
            kind,
            message,
            warnings,
            audit_annotations,
            policies: _,
        } = decision;
        let status = match kind {
            DecisionKind::Allowed => None,
            DecisionKind::Denied { code } => Some(Status::failure(code, reason(code), message)),
            DecisionKind::Errored => Some(Status::failure(
                DecisionKind::ERRORED_CODE,
                Some("InternalError"),
                message,
            )),
        };
        Self {
            uid: uid.into(),
            allowed: kind == DecisionKind::Allowed,
            status,
            warnings,
            audit_annotations,
        }
    }

    /// The AdmissionReview that carries this response.
    pub fn to_review_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Out<'r> {
            #[serde(rename = "apiVersion")]
            api_version: &'static str,
            kind: &'static str,
            response: &'r Response,
        }
        serde_json::to_vec(&Out {
            api_version: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: self,
        })
        .expect("a response always serializes")
    }
}

/// The `StatusReason` Kubernetes gives an HTTP code (apimachinery's `NewGenericServerResponse`):
/// none for a 4xx without one, `InternalError` for any other 5xx.
fn reason(code: u16) -> Option<&'static str> {
    Some(match code {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "Conflict",
        410 => "Gone",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        500..=599 => "InternalError",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(kind: DecisionKind, message: &str) -> Decision {
        Decision {
            kind,
            message: message.into(),
            warnings: vec!["w".into()],
            audit_annotations: [("p.k".to_owned(), "v".to_owned())].into(),
            policies: Vec::new(),
        }
    }

    fn status(kind: DecisionKind) -> Status {
        Response::from_decision("u", decision(kind, "p: no"))
            .status
            .expect("a status")
    }

    #[test]
    fn responses_echo_the_uid_and_omit_empty_parts() {
        let resp = Response {
            uid: "u1".into(),
            allowed: true,
            ..Default::default()
        };
        let json: serde_json::Value = serde_json::from_slice(&resp.to_review_json()).unwrap();
        assert_eq!(json["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(json["kind"], "AdmissionReview");
        assert_eq!(
            json["response"],
            serde_json::json!({"uid": "u1", "allowed": true})
        );
    }

    #[test]
    fn an_allowed_decision_has_no_status_but_keeps_warnings_and_annotations() {
        let r = Response::from_decision("u1", decision(DecisionKind::Allowed, ""));
        assert!(r.allowed && r.status.is_none());
        assert_eq!(r.uid, "u1");
        assert_eq!(r.warnings, ["w"]);
        assert_eq!(r.audit_annotations["p.k"], "v");
    }

    #[test]
    fn a_denial_keeps_the_policys_code_with_its_reason() {
        let s = status(DecisionKind::Denied { code: 403 });
        assert_eq!(
            (s.status.as_str(), s.code, s.reason.as_deref()),
            ("Failure", 403, Some("Forbidden"))
        );
        assert_eq!(s.message, "p: no");
        // Was InternalError while the reason was derived from `code == 403`.
        let s = status(DecisionKind::Denied { code: 422 });
        assert_eq!((s.code, s.reason.as_deref()), (422, Some("Invalid")));
        let s = status(DecisionKind::Denied { code: 418 });
        assert_eq!((s.code, s.reason), (418, None));
        let s = status(DecisionKind::Denied { code: 502 });
        assert_eq!(s.reason.as_deref(), Some("InternalError"));
    }

    #[test]
    fn an_errored_decision_is_a_500_internal_error_with_the_message() {
        let r = Response::from_decision(
            "u",
            decision(DecisionKind::Errored, "policy p failed: trapped"),
        );
        assert!(!r.allowed);
        let s = r.status.unwrap();
        assert_eq!((s.code, s.reason.as_deref()), (500, Some("InternalError")));
        assert_eq!(s.message, "policy p failed: trapped");
        let json: serde_json::Value = serde_json::from_slice(
            &Response::from_decision("u", decision(DecisionKind::Errored, "m")).to_review_json(),
        )
        .unwrap();
        assert_eq!(json["response"]["status"]["status"], "Failure");
    }
}
