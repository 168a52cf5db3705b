//! A checklist as `key check`, the preflight and `verify` print it: one line per check with its
//! level (pass / info / warn / fail) and detail, then the fix of each that has one, then the
//! result. A check that could not be made says so and why, at `warn`, never silently `pass`.

use secretkms_core::judgement::Finding;
use serde::Serialize;

use crate::output::{Level, Style, Table};

/// One line of a checklist.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// A check the judge derived from the key's facts.
impl From<Finding> for Check {
    fn from(f: Finding) -> Self {
        Self {
            name: f.check,
            level: f.level,
            detail: f.message,
            fix: f.fix,
        }
    }
}

impl Check {
    pub fn new(name: &'static str, level: Level, detail: impl Into<String>) -> Self {
        Self {
            name,
            level,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn pass(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Level::Pass, detail)
    }

    pub fn info(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Level::Info, detail)
    }

    pub fn warn(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Level::Warn, detail)
    }

    pub fn fail(name: &'static str, detail: impl Into<String>) -> Self {
        Self::new(name, Level::Fail, detail)
    }

    /// A check that could not be made: `warn`, the reason in the detail.
    pub fn unchecked(name: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::warn(name, format!("could not check: {reason}"))
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// The worst level of `checks` (info counts as pass); pass when empty.
pub fn result(checks: &[Check]) -> Level {
    checks
        .iter()
        .map(|c| match c.level {
            Level::Info => Level::Pass,
            other => other,
        })
        .max()
        .unwrap_or(Level::Pass)
}

/// The table, then the fixes (if any).
pub fn render(checks: &[Check], style: Style) -> String {
    let mut table = Table::new(&["check", "result", "detail"]);
    for c in checks {
        table.row(vec![
            c.name.to_string(),
            c.level.label().to_string(),
            c.detail.clone(),
        ]);
    }
    let mut out = table.render_with(|col, row, cell| {
        if col == 1 {
            style.level(checks[row].level, cell.len())
        } else {
            cell
        }
    });
    let fixes: Vec<_> = checks
        .iter()
        .filter_map(|c| c.fix.as_ref().map(|f| (c.name, f)))
        .collect();
    if !fixes.is_empty() {
        out.push_str("\nfixes:\n");
        for (name, fix) in fixes {
            out.push_str(&format!("  {name}: {fix}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_counts_as_pass_and_the_worst_wins() {
        assert_eq!(result(&[]), Level::Pass);
        assert_eq!(result(&[Check::info("a", "x")]), Level::Pass);
        assert_eq!(
            result(&[
                Check::pass("a", "x"),
                Check::unchecked("b", "no permission")
            ]),
            Level::Warn
        );
        assert_eq!(
            result(&[Check::fail("a", "x"), Check::warn("b", "y")]),
            Level::Fail
        );
    }

    #[test]
    fn fixes_follow_the_table() {
        let text = render(
            &[
                Check::pass("one", "fine"),
                Check::fail("two", "broken").fix("mend it"),
            ],
            Style::default(),
        );
        assert_eq!(
            text,
            "CHECK   RESULT   DETAIL\none     PASS     fine\ntwo     FAIL     broken\n\nfixes:\n  two: mend it\n"
        );
    }
}
