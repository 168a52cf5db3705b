//! Whether each source's facts can be trusted: a source that is older than the declared
//! `maxStateAgeSeconds`, or has never answered, leaves its part of the state unknown. The
//! secret-write guard denies in that case, so these findings fail.

use secretkms_model::{Declared, EncryptionState, SourceStatus};

use super::{Finding, Level};

/// The check name of every freshness finding.
pub const FRESH: &str = "fresh";

/// Sources whose facts only feed warnings; their age never fails.
const SOFT_SOURCES: &[&str] = &["rewrite"];

/// The part of the state a source feeds, and what it observes.
fn part_of(source: &str) -> (&'static str, &'static str) {
    match source {
        "declared" => ("declared", "SecretEncryption/cluster"),
        "kms" => ("key", "the key's state in KMS"),
        "apiserver" => ("apiserver", "the apiserver's KMS health"),
        "plugin" => ("plugin", "the KMS v2 plugin's status"),
        "file" => ("state", "the state file"),
        _ => ("state", "this source"),
    }
}

/// How to make a source answer again.
fn fix_for(source: &str) -> &'static str {
    match source {
        "declared" => "check that the webhook may get secretencryptions.secretkms.io (RBAC)",
        "kms" => "check the KMS credentials and the network path to the KMS endpoint",
        "apiserver" => {
            "check that the nonResourceURLs /readyz, /readyz/kms-provider* and /metrics may be read (RBAC), and that the canary Secret exists"
        }
        "plugin" => "check that the KMS v2 plugin socket is mounted and the plugin is running",
        "file" => "refresh the state file",
        _ => "check the webhook's logs for this source",
    }
}

/// One finding per source that cannot be trusted. Without a declaration nothing is enforced,
/// so an unreadable source is then only a warning.
pub fn freshness(state: &EncryptionState, declared: Option<&Declared>) -> Vec<Finding> {
    let level = if declared.is_some() {
        Level::Fail
    } else {
        Level::Warn
    };
    let max = declared.map(|d| d.max_state_age_seconds);
    state
        .sources
        .iter()
        .filter(|s| !SOFT_SOURCES.contains(&s.name.as_str()))
        // Without a declaration, an unreadable one is already the "not declared" finding.
        .filter(|s| declared.is_some() || s.name != "declared")
        .filter_map(|s| judge_source(s, max, level))
        .collect()
}

fn judge_source(source: &SourceStatus, max: Option<u64>, level: Level) -> Option<Finding> {
    let (part, what) = part_of(&source.name);
    let error = source.last_error.as_deref();
    let (reason, message) = match (source.age_seconds, error) {
        (Some(age), _) if max.is_some_and(|max| age > max) => (
            "StaleFacts",
            format!(
                "{what} is stale: last observed {age} s ago, allowed {} s{}",
                max.unwrap_or_default(),
                error
                    .map(|e| format!("; last error: {e}"))
                    .unwrap_or_default()
            ),
        ),
        (Some(_), _) => return None,
        (None, Some(e)) => ("SourceFailing", format!("{what} is unknown: {e}")),
        (None, None) => (
            "NotObservedYet",
            format!("{what} has not been observed yet"),
        ),
    };
    Some(Finding::new(level, part, FRESH, reason, message).fix(fix_for(&source.name)))
}
