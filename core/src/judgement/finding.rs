//! What the judgement produces: a finding is one thing a person should know about the state,
//! with its severity, what is wrong (naming the value) and the command that fixes it.

use serde::Serialize;

/// A finding's or a check's severity, least severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Pass,
    Info,
    Warn,
    Fail,
}

impl Level {
    /// The label tables print: `PASS`, `INFO`, `WARN`, `FAIL`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "PASS",
            Self::Info => "INFO",
            Self::Warn => "WARN",
            Self::Fail => "FAIL",
        }
    }
}

/// One judged fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    /// The part of the state it is about: `declared`, `key`, `apiserver`, `plugin`, `rewrite`,
    /// `state` (a state file), or a part only the plugin sees (`webhook`, `policy`, `etcd`).
    pub part: &'static str,
    /// A stable name for the check (`enabled`, `key-spec`, `fresh`, ...); `key check` prints it.
    #[serde(skip)]
    pub check: &'static str,
    /// A CamelCase reason for conditions and events, e.g. `KeyDisabled`.
    #[serde(skip)]
    pub reason: String,
    /// What is wrong (or right), naming the value.
    pub message: String,
    /// The command or change that fixes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn new(
        level: Level,
        part: &'static str,
        check: &'static str,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            level,
            part,
            check,
            reason: reason.into(),
            message: message.into(),
            fix: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// True when the finding says a fact is missing or too old rather than wrong.
    pub fn is_unknown(&self) -> bool {
        self.check == super::sources::FRESH
    }
}
