//! ActionTrail's record of the KMS calls ACK's control plane made as
//! `AliyunCSManagedSecurityRole`: the documented check that encryption is on. LookupEvents is
//! asked for the role's events (the lookup key is `User`, which matches an assumed role's
//! `<role>:<session>` user name by its role) in the KMS service since a time, page by page at
//! its quota; Encrypt and Decrypt are counted with their first and last times. ActionTrail
//! lags by minutes, so the lookup is repeated until the calls show or the bound runs out.

use std::collections::BTreeSet;
use std::time::Duration;

use secretkms_alibaba::actiontrail::{
    ActionTrailClient, ActionTrailError, Direction, Event, LookupAttribute, LookupEventsRequest,
    LookupKey, MAX_RESULTS,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::checklist::Check;
use crate::preflight::SECURITY_ROLE;

const NAME: &str = "actiontrail";
/// Pages read per lookup at most (50 events each).
const MAX_PAGES: usize = 20;

/// The role's KMS calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrailSummary {
    pub role: String,
    pub since: String,
    pub encrypt: u64,
    pub decrypt: u64,
    /// Calls KMS refused (an error code in the event).
    pub failed: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    /// The keys the calls named.
    pub keys: Vec<String>,
    /// Whether more events than were read exist.
    pub truncated: bool,
}

impl TrailSummary {
    pub fn calls(&self) -> u64 {
        self.encrypt + self.decrypt
    }
}

/// Folds the role's events into counts and times; only Encrypt and Decrypt count.
pub fn summarize(events: &[Event], since: OffsetDateTime, truncated: bool) -> TrailSummary {
    let mut out = TrailSummary {
        role: SECURITY_ROLE.into(),
        since: secretkms_alibaba::openapi::signature::format_timestamp(since),
        truncated,
        ..Default::default()
    };
    let mut keys = BTreeSet::new();
    let mut times = Vec::new();
    for e in events {
        if e.user_identity.role_name() != Some(SECURITY_ROLE) {
            continue;
        }
        if !e.error_code.is_empty() {
            out.failed += 1;
            continue;
        }
        match e.event_name.as_str() {
            "Encrypt" => out.encrypt += 1,
            "Decrypt" => out.decrypt += 1,
            _ => continue,
        }
        times.push(e.event_time.clone());
        if let Some(serde_json::Value::String(k)) = e.other.get("resourceName") {
            keys.insert(k.clone());
        }
    }
    times.sort();
    out.first = times.first().cloned();
    out.last = times.last().cloned();
    out.keys = keys.into_iter().collect();
    out
}

/// One lookup of the role's KMS events since `since`.
pub async fn lookup(
    trail: &ActionTrailClient,
    since: OffsetDateTime,
) -> Result<TrailSummary, ActionTrailError> {
    let request = LookupEventsRequest {
        start_time: Some(since),
        lookup_attributes: vec![
            LookupAttribute::new(LookupKey::User, SECURITY_ROLE),
            LookupAttribute::new(LookupKey::ServiceName, "Kms"),
        ],
        max_results: Some(MAX_RESULTS),
        direction: Some(Direction::Forward),
        ..Default::default()
    };
    let (events, more) = trail.lookup_all_events(&request, MAX_PAGES).await?;
    Ok(summarize(&events, since, more.is_some()))
}

/// The judgement on a summary, given whether calls should appear (after enable) or not.
pub fn judge(summary: &TrailSummary, expect_calls: bool, waited: Duration) -> Check {
    let counts = format!(
        "{} Encrypt, {} Decrypt by {} since {}{}{}",
        summary.encrypt,
        summary.decrypt,
        summary.role,
        summary.since,
        match (&summary.first, &summary.last) {
            (Some(f), Some(l)) => format!(" (first {f}, last {l})"),
            _ => String::new(),
        },
        if summary.failed > 0 {
            format!("; {} refused by KMS", summary.failed)
        } else {
            String::new()
        }
    );
    match (expect_calls, summary.calls() > 0) {
        (true, true) => Check::pass(NAME, counts),
        (true, false) => Check::fail(
            NAME,
            format!("{counts}, after waiting {}s", waited.as_secs()),
        )
        .fix(format!(
            "ActionTrail can lag by minutes: run kubectl secretkms verify --since {} later; if still none, ACK is not calling KMS",
            summary.since
        )),
        (false, _) => Check::info(NAME, counts),
    }
}

/// Looks up until calls show or `timeout` runs out, every `interval`.
pub async fn wait_for_calls(
    trail: &ActionTrailClient,
    since: OffsetDateTime,
    timeout: Duration,
    interval: Duration,
) -> (Check, Option<TrailSummary>) {
    let started = std::time::Instant::now();
    loop {
        match lookup(trail, since).await {
            Ok(summary) if summary.calls() > 0 || started.elapsed() >= timeout => {
                return (judge(&summary, true, started.elapsed()), Some(summary));
            }
            Ok(_) => {}
            Err(e @ ActionTrailError::NoPermission(_)) => {
                return (
                    Check::unchecked(NAME, e).fix("grant actiontrail:LookupEvents to check"),
                    None,
                );
            }
            Err(e) if started.elapsed() >= timeout => return (Check::unchecked(NAME, e), None),
            Err(_) => {}
        }
        tokio::time::sleep(interval.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Level;
    use secretkms_alibaba::actiontrail::UserIdentity;

    fn event(name: &str, user: &str, at: &str, error: &str) -> Event {
        let mut other = serde_json::Map::new();
        other.insert("resourceName".into(), "key-1".into());
        Event {
            event_name: name.into(),
            event_time: at.into(),
            user_identity: UserIdentity {
                kind: "assumed-role".into(),
                user_name: user.into(),
                ..Default::default()
            },
            error_code: error.into(),
            other,
            ..Default::default()
        }
    }

    #[test]
    fn only_the_roles_encrypt_and_decrypt_count() {
        let role = "AliyunCSManagedSecurityRole:ack";
        let events = [
            event("Encrypt", role, "2026-01-01T00:00:02Z", ""),
            event("Decrypt", role, "2026-01-01T00:00:01Z", ""),
            event(
                "Decrypt",
                role,
                "2026-01-01T00:00:03Z",
                "Forbidden.KeyNotFound",
            ),
            event("DescribeKey", role, "2026-01-01T00:00:04Z", ""),
            event("Encrypt", "someone-else:x", "2026-01-01T00:00:05Z", ""),
        ];
        let s = summarize(&events, OffsetDateTime::UNIX_EPOCH, false);
        assert_eq!((s.encrypt, s.decrypt, s.failed), (1, 1, 1));
        assert_eq!(s.first.as_deref(), Some("2026-01-01T00:00:01Z"));
        assert_eq!(s.last.as_deref(), Some("2026-01-01T00:00:02Z"));
        assert_eq!(s.keys, ["key-1"]);
        assert_eq!(judge(&s, true, Duration::ZERO).level, Level::Pass);
        let none = summarize(&[], OffsetDateTime::UNIX_EPOCH, false);
        let check = judge(&none, true, Duration::from_secs(30));
        assert_eq!(check.level, Level::Fail);
        assert!(check.detail.contains("after waiting 30s"));
        assert_eq!(judge(&none, false, Duration::ZERO).level, Level::Info);
    }
}
