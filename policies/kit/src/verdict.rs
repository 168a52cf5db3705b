//! Builders for [`Verdict`], so policies say `Verdict::deny(403, msg).warn(w)` instead of filling
//! five fields, and warnings always pass through [`Warnings`].

use crate::{Verdict, Warnings};

/// The HTTP-style code for a policy denial.
pub const FORBIDDEN: u16 = 403;

impl Verdict {
    /// Allowed, no message.
    pub fn allow() -> Self {
        Self {
            allowed: true,
            code: 200,
            message: String::new(),
            warnings: Vec::new(),
            audit_annotations: Vec::new(),
        }
    }

    /// Denied with `code` (403 by convention) and a message saying what is wrong and how to fix
    /// it.
    pub fn deny(code: u16, message: impl Into<String>) -> Self {
        Self {
            allowed: false,
            code,
            message: message.into(),
            ..Self::allow()
        }
    }

    /// Adds a warning, fitted to the apiserver's limits.
    pub fn warn(mut self, text: impl AsRef<str>) -> Self {
        let mut w = Warnings::new();
        w.extend(std::mem::take(&mut self.warnings));
        w.push(text);
        self.warnings = w.into_vec();
        self
    }

    /// Replaces the warnings with a collected set.
    pub fn with_warnings(mut self, warnings: Warnings) -> Self {
        self.warnings = warnings.into_vec();
        self
    }

    /// Adds an audit annotation. Keys are conventionally short (`would-deny`); the apiserver
    /// prefixes them with the webhook's name.
    pub fn annotate(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.audit_annotations.push((key.into(), value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deny_keeps_code_and_message() {
        let v = Verdict::deny(FORBIDDEN, "key disabled")
            .warn("w1")
            .annotate("k", "v");
        assert!(!v.allowed);
        assert_eq!(v.code, 403);
        assert_eq!(v.message, "key disabled");
        assert_eq!(v.warnings, ["w1"]);
        assert_eq!(v.audit_annotations, [("k".to_string(), "v".to_string())]);
    }

    #[test]
    fn warn_fits_and_deduplicates() {
        let v = Verdict::allow().warn("a\nb").warn("a b");
        assert!(v.allowed);
        assert_eq!(v.warnings, ["a b"]);
    }
}
