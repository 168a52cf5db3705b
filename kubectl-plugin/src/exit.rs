//! The documented, stable exit codes. kubectl `exec`s plugins on Unix, so these reach the shell
//! unchanged there (on Windows kubectl folds every failure into its own 1).

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, nothing wrong found.
    Ok,
    /// 1: the command ran and found problems: a failed check, a failed policy case, Secrets it
    /// could not rewrite, an unhealthy status.
    Findings,
    /// 2: the command could not do its job: bad usage, unreadable files, unreachable cluster.
    Error,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Findings => 1,
            Self::Error => 2,
        }
    }

    /// `Findings` when `bad`, else `Ok`.
    pub fn findings_if(bad: bool) -> Self {
        if bad { Self::Findings } else { Self::Ok }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit.code())
    }
}
