//! What a case expects of a policy's answer, and how a difference is reported: every present
//! field of `expected.json` must hold, and every way it does not is listed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// `expected.json`. Unknown fields are refused, so a misspelt expectation cannot pass silently.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expected {
    pub allowed: bool,
    /// The denial's code; not checked when the answer allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
    /// Each entry must be a substring of at least one warning.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings_contain: Vec<String>,
}

/// The parts of a policy's answer that a case checks, whichever host produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer<'a> {
    pub allowed: bool,
    pub code: u16,
    pub message: &'a str,
    pub warnings: &'a [String],
}

impl Expected {
    /// Every way `answer` differs from the expectation; empty when the case holds.
    pub fn mismatches(&self, answer: &Answer<'_>) -> Vec<String> {
        let mut problems = Vec::new();
        if answer.allowed != self.allowed {
            problems.push(format!(
                "allowed is {}, expected {}",
                answer.allowed, self.allowed
            ));
        }
        if let Some(code) = self.code
            && !answer.allowed
            && answer.code != code
        {
            problems.push(format!("code is {}, expected {code}", answer.code));
        }
        if let Some(needle) = &self.message_contains
            && !answer.message.contains(needle.as_str())
        {
            problems.push(format!("message does not contain {needle:?}"));
        }
        for needle in &self.warnings_contain {
            if !answer.warnings.iter().any(|w| w.contains(needle.as_str())) {
                problems.push(format!("no warning contains {needle:?}"));
            }
        }
        problems
    }
}

/// A case that did not hold: its name, what differs, and what the policy answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseFailure {
    pub case: String,
    pub problems: Vec<String>,
    pub message: String,
    pub warnings: Vec<String>,
}

impl fmt::Display for CaseFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "case {}: {}\n  message: {}\n  warnings: {:?}",
            self.case,
            self.problems.join("; "),
            self.message,
            self.warnings
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denial<'a>(code: u16, message: &'a str, warnings: &'a [String]) -> Answer<'a> {
        Answer {
            allowed: false,
            code,
            message,
            warnings,
        }
    }

    #[test]
    fn every_mismatch_is_listed() {
        let expected: Expected = serde_json::from_str(
            r#"{"allowed": false, "code": 422, "messageContains": "Disabled",
                "warningsContain": ["rotation", "protection"]}"#,
        )
        .unwrap();
        let warnings = ["automatic rotation is off".to_string()];
        assert!(
            expected
                .mismatches(&denial(
                    422,
                    "key k is Disabled",
                    &[
                        "automatic rotation is off".into(),
                        "deletion protection is off".into()
                    ]
                ))
                .is_empty()
        );
        assert_eq!(
            expected.mismatches(&denial(403, "key k is PendingDeletion", &warnings)),
            [
                "code is 403, expected 422",
                "message does not contain \"Disabled\"",
                "no warning contains \"protection\"",
            ]
        );
        let allowed = Answer {
            allowed: true,
            code: 0,
            message: "",
            warnings: &warnings,
        };
        assert_eq!(
            expected.mismatches(&allowed),
            [
                "allowed is true, expected false",
                "message does not contain \"Disabled\"",
                "no warning contains \"protection\"",
            ]
        );
    }

    #[test]
    fn unknown_expectations_are_refused() {
        let err = serde_json::from_str::<Expected>(r#"{"allowed": true, "mesageContains": "x"}"#)
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown field `mesageContains`"),
            "{err}"
        );
    }

    #[test]
    fn a_failure_names_the_case_and_shows_the_answer() {
        let failure = CaseFailure {
            case: "deny-key-disabled".into(),
            problems: vec!["allowed is true, expected false".into()],
            message: String::new(),
            warnings: vec!["w".into()],
        };
        assert_eq!(
            failure.to_string(),
            "case deny-key-disabled: allowed is true, expected false\n  message: \n  warnings: [\"w\"]"
        );
    }
}
