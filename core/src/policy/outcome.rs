//! What one policy's evaluation came to, kept in three outcomes that never blur: the policy
//! allowed, the policy denied (its verdict is shown to the user), or the evaluation errored (a
//! trap, a deadline, memory, a bad verdict): the policy never decided.

use std::fmt;

/// A policy's verdict, checked and bounded by the runtime (see [`Verdict::MAX_MESSAGE_CHARS`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    pub allowed: bool,
    /// HTTP-style code of a denial, 400..=599 (403 when the policy gave none in range).
    pub code: u16,
    pub message: String,
    pub warnings: Vec<String>,
    /// Keys as the policy wrote them; [`super::Decision`] prefixes them with the policy's name.
    pub audit_annotations: Vec<(String, String)>,
}

impl Verdict {
    /// Longest message kept; a guest could return megabytes, the apiserver shows one line.
    pub const MAX_MESSAGE_CHARS: usize = 4096;
    /// Most warnings kept from one verdict (the merged decision caps them again).
    pub const MAX_WARNINGS: usize = 64;
    /// Most audit annotations kept from one verdict.
    pub const MAX_AUDIT_ANNOTATIONS: usize = 32;
    /// Longest audit annotation value kept.
    pub const MAX_ANNOTATION_VALUE_CHARS: usize = 1024;
}

/// The outcome of evaluating one policy on one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The policy allowed; its verdict may still carry warnings and audit annotations.
    Allowed(Verdict),
    /// The policy denied; the verdict's message says why and how to fix it.
    Denied(Verdict),
    /// The policy did not decide; its `failureMode` says what that means for the request.
    Errored(EvaluationError),
}

/// Why an evaluation produced no verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The guest trapped (`unreachable`, out-of-bounds access, stack overflow, ...).
    Trap,
    /// The guest ran past its `timeoutMs`.
    Deadline,
    /// The guest tried to grow its memory past `memoryLimitBytes`.
    OutOfMemory,
    /// A fresh instance could not be created (e.g. the instance pool is exhausted).
    Instantiate,
    /// The guest returned something that is not a usable verdict (e.g. a denial without a
    /// message, or values the canonical ABI refuses).
    BadVerdict,
}

impl ErrorKind {
    /// All kinds, for exporting one counter per kind.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Trap,
        ErrorKind::Deadline,
        ErrorKind::OutOfMemory,
        ErrorKind::Instantiate,
        ErrorKind::BadVerdict,
    ];

    /// A stable lowercase name, fit for a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Trap => "trap",
            ErrorKind::Deadline => "deadline",
            ErrorKind::OutOfMemory => "out_of_memory",
            ErrorKind::Instantiate => "instantiate",
            ErrorKind::BadVerdict => "bad_verdict",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An evaluation that produced no verdict. The message names what happened, never request data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy} failed: {message}")]
pub struct EvaluationError {
    pub policy: String,
    pub kind: ErrorKind,
    pub message: String,
}

/// Cuts `s` to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate_chars(s: &mut String, max: usize) {
    if max == 0 {
        s.clear();
        return;
    }
    if let Some((cut, _)) = s.char_indices().nth(max - 1)
        && s[cut..].chars().nth(1).is_some()
    {
        s.truncate(cut);
        s.push('…');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        let mut s = "ééééé".to_owned();
        truncate_chars(&mut s, 3);
        assert_eq!(s, "éé…");
        let mut short = "abc".to_owned();
        truncate_chars(&mut short, 3);
        assert_eq!(short, "abc");
    }

    #[test]
    fn errors_name_the_policy() {
        let e = EvaluationError {
            policy: "secret-write-guard".into(),
            kind: ErrorKind::Deadline,
            message: "deadline of 50ms exceeded".into(),
        };
        assert_eq!(
            e.to_string(),
            "policy secret-write-guard failed: deadline of 50ms exceeded"
        );
    }
}
