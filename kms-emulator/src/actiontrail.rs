//! The emulator's ActionTrail (2020-07-06): every KMS call the emulator served — successful or
//! refused by KMS, after its signature verified — is recorded as an event in ActionTrail's
//! event-log form, in a ring of the latest [`TRAIL_CAPACITY`] events (older ones are dropped, as
//! ActionTrail keeps a bounded history), and `LookupEvents` serves them with its time range, its
//! lookup attributes and `NextToken` paging.

use std::collections::VecDeque;

use base64::Engine as _;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::account::{Caller, numeric_id};
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::uuid;
use secretkms_alibaba::openapi::signature::{format_timestamp, parse_timestamp};

pub const ACTIONTRAIL_VERSION: &str = "2020-07-06";
/// Events kept; the oldest is dropped when a new one would exceed it (~100 MB at most).
pub const TRAIL_CAPACITY: usize = 100_000;
/// The lookup attribute keys LookupEvents takes (the SDK's `LookupAttribute.N.Key` values).
const LOOKUP_KEYS: [&str; 8] = [
    "ServiceName",
    "EventName",
    "User",
    "EventId",
    "ResourceType",
    "ResourceName",
    "EventRW",
    "EventAccessKeyId",
];
const MAX_ATTRIBUTES: usize = 2;
const DEFAULT_RESULTS: usize = 20;
const MAX_RESULTS: usize = 50;

/// One served KMS call, as the server saw it.
#[derive(Debug)]
pub struct KmsCall<'a> {
    pub action: &'a str,
    pub write: bool,
    pub caller: &'a Caller,
    pub account_id: &'a str,
    pub region: &'a str,
    pub key_id: Option<&'a str>,
    pub request_id: &'a str,
    pub error: Option<&'a ApiError>,
}

#[derive(Debug)]
struct Recorded {
    seq: u64,
    at: OffsetDateTime,
    event: Value,
}

/// The ring of recorded events, oldest first.
#[derive(Debug)]
pub struct Trail {
    events: VecDeque<Recorded>,
    capacity: usize,
    next_seq: u64,
}

impl Default for Trail {
    fn default() -> Self {
        Self::with_capacity(TRAIL_CAPACITY)
    }
}

fn invalid(name: &str, detail: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        400,
        format!("InvalidParameter.{name}"),
        format!("The parameter {name} is invalid: {detail}"),
    )
}

fn user_identity(call: &KmsCall<'_>) -> Value {
    match call.caller {
        Caller::User {
            name,
            access_key_id,
        } => json!({
            "type": "ram-user",
            "principalId": numeric_id("user", name),
            "accountId": call.account_id,
            "accessKeyId": access_key_id,
            "userName": name,
        }),
        Caller::AssumedRole {
            role,
            session,
            access_key_id,
        } => json!({
            "type": "assumed-role",
            "principalId": format!("{}:{session}", numeric_id("role", role)),
            "accountId": call.account_id,
            "accessKeyId": access_key_id,
            "userName": format!("{role}:{session}"),
        }),
    }
}

/// Whether `event` has `value` for lookup attribute `key`. `User` matches the user name, and for
/// an assumed role also the role name alone (`<role>` of `<role>:<session>`), so the documented
/// "calls by AliyunCSManagedSecurityRole" check needs no session name — an emulator choice, the
/// reference does not say which field carries the role.
fn matches(event: &Value, key: &str, value: &str) -> bool {
    let field = |path: &[&str]| {
        path.iter()
            .fold(event, |v, p| &v[*p])
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    match key {
        "User" => {
            let name = field(&["userIdentity", "userName"]);
            name == value
                || (field(&["userIdentity", "type"]) == "assumed-role"
                    && name.split(':').next() == Some(value))
        }
        "EventAccessKeyId" => field(&["userIdentity", "accessKeyId"]) == value,
        "ServiceName" => field(&["serviceName"]) == value,
        "EventName" => field(&["eventName"]) == value,
        "EventId" => field(&["eventId"]) == value,
        "ResourceType" => field(&["resourceType"]) == value,
        "ResourceName" => field(&["resourceName"]) == value,
        "EventRW" => field(&["eventRW"]) == value,
        _ => false,
    }
}

fn encode_token(seq: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("trail:{seq}"))
}

fn decode_token(token: &str) -> Result<u64, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("trail:")?.parse().ok())
        .ok_or_else(|| invalid("NextToken", "not a token this API returned"))
}

fn time_param(
    params: &Params,
    name: &str,
    default: OffsetDateTime,
) -> Result<OffsetDateTime, ApiError> {
    match params.opt(name) {
        None => Ok(default),
        Some(text) => parse_timestamp(text)
            .ok_or_else(|| invalid(name, format!("{text:?} is not YYYY-MM-DDThh:mm:ssZ"))),
    }
}

impl Trail {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            next_seq: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Records one KMS call at `at`.
    pub fn record(&mut self, call: &KmsCall<'_>, at: OffsetDateTime) {
        let mut event = json!({
            "eventId": uuid(),
            "eventName": call.action,
            "eventTime": format_timestamp(at),
            "eventType": "ApiCall",
            "eventVersion": "1",
            "eventSource": format!("kms.{}.aliyuncs.com", call.region),
            "eventRW": if call.write { "Write" } else { "Read" },
            "serviceName": "Kms",
            "apiVersion": "2016-01-20",
            "acsRegion": call.region,
            "requestId": call.request_id,
            "userIdentity": user_identity(call),
            "errorCode": call.error.map(|e| e.code.as_str()).unwrap_or_default(),
            "errorMessage": call.error.map(|e| e.message.as_str()).unwrap_or_default(),
        });
        if let Some(key) = call.key_id {
            event["resourceType"] = json!("ACS::KMS::Key");
            event["resourceName"] = json!(key);
            event["referencedResources"] = json!({ "ACS::KMS::Key": [key] });
        }
        if self.events.len() >= self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(Recorded {
            seq: self.next_seq,
            at,
            event,
        });
        self.next_seq += 1;
    }

    /// LookupEvents at `now`.
    pub fn lookup(&self, params: &Params, now: OffsetDateTime) -> Result<Value, ApiError> {
        let end = time_param(params, "EndTime", now)?;
        let start = time_param(params, "StartTime", now - time::Duration::days(7))?;
        if start > end {
            return Err(invalid("StartTime", "StartTime is after EndTime"));
        }
        let max = match params.opt_u64("MaxResults")? {
            None | Some(0) => DEFAULT_RESULTS,
            Some(n) if n as usize <= MAX_RESULTS => n as usize,
            Some(n) => {
                return Err(invalid(
                    "MaxResults",
                    format!("{n} is more than {MAX_RESULTS}"),
                ));
            }
        };
        let forward = match params.opt("Direction") {
            None | Some("BACKWARD") => false,
            Some("FORWARD") => true,
            Some(other) => {
                return Err(invalid(
                    "Direction",
                    format!("{other:?} is not FORWARD or BACKWARD"),
                ));
            }
        };
        let mut attributes = Vec::new();
        for n in 1.. {
            let key = params.opt(&format!("LookupAttribute.{n}.Key"));
            let value = params.get(&format!("LookupAttribute.{n}.Value"));
            let Some(key) = key else { break };
            if !LOOKUP_KEYS.contains(&key) {
                return Err(invalid(
                    "LookupAttribute.Key",
                    format!("{key:?} is not one of {LOOKUP_KEYS:?}"),
                ));
            }
            attributes.push((key.to_string(), value.unwrap_or_default().to_string()));
        }
        if attributes.len() > MAX_ATTRIBUTES {
            return Err(invalid(
                "LookupAttribute",
                format!(
                    "{} conditions given, at most {MAX_ATTRIBUTES}",
                    attributes.len()
                ),
            ));
        }
        let from = params.opt("NextToken").map(decode_token).transpose()?;
        let selected = |r: &&Recorded| {
            r.at >= start
                && r.at <= end
                && from.is_none_or(|seq| if forward { r.seq >= seq } else { r.seq <= seq })
                && attributes.iter().all(|(k, v)| matches(&r.event, k, v))
        };
        let mut page: Vec<&Recorded> = if forward {
            self.events.iter().filter(selected).take(max + 1).collect()
        } else {
            self.events
                .iter()
                .rev()
                .filter(selected)
                .take(max + 1)
                .collect()
        };
        let next = (page.len() > max)
            .then(|| page.pop().map(|r| r.seq))
            .flatten();
        let mut answer = json!({
            "StartTime": format_timestamp(start),
            "EndTime": format_timestamp(end),
            "Events": page.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
        });
        if let Some(seq) = next {
            answer["NextToken"] = json!(encode_token(seq));
        }
        Ok(answer)
    }
}

/// Signed ActionTrail actions.
pub fn dispatch(trail: &Trail, action: &str, params: &Params) -> Result<Value, ApiError> {
    match action {
        "LookupEvents" => trail.lookup(params, OffsetDateTime::now_utc()),
        other => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {other:?} is not found."),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(items: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (k, v) in items {
            p.push(k, v);
        }
        p
    }

    fn record(trail: &mut Trail, action: &str, caller: &Caller, key: &str, at: OffsetDateTime) {
        trail.record(
            &KmsCall {
                action,
                write: false,
                caller,
                account_id: "123",
                region: "cn-hangzhou",
                key_id: Some(key),
                request_id: "r",
                error: None,
            },
            at,
        );
    }

    fn names(answer: &Value) -> Vec<String> {
        answer["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}/{}",
                    e["eventName"].as_str().unwrap(),
                    e["resourceName"].as_str().unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn filters_page_and_order() {
        let now = OffsetDateTime::now_utc();
        let role = Caller::AssumedRole {
            role: "AliyunCSManagedSecurityRole".into(),
            session: "plugin".into(),
            access_key_id: "STS.x".into(),
        };
        let user = Caller::User {
            name: "alice".into(),
            access_key_id: "AK".into(),
        };
        let mut trail = Trail::default();
        for i in 0..5 {
            record(
                &mut trail,
                "Encrypt",
                &role,
                &format!("k{i}"),
                now - time::Duration::minutes(10 - i),
            );
        }
        record(&mut trail, "Decrypt", &user, "k9", now);

        let by_role = trail
            .lookup(
                &params(&[
                    ("LookupAttribute.1.Key", "User"),
                    ("LookupAttribute.1.Value", "AliyunCSManagedSecurityRole"),
                    ("MaxResults", "2"),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(names(&by_role), ["Encrypt/k4", "Encrypt/k3"]);
        let token = by_role["NextToken"].as_str().unwrap();
        let next = trail
            .lookup(
                &params(&[
                    ("LookupAttribute.1.Key", "User"),
                    ("LookupAttribute.1.Value", "AliyunCSManagedSecurityRole"),
                    ("MaxResults", "2"),
                    ("NextToken", token),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(names(&next), ["Encrypt/k2", "Encrypt/k1"]);
        let token = next["NextToken"].as_str().unwrap();
        let last = trail
            .lookup(
                &params(&[
                    ("LookupAttribute.1.Key", "User"),
                    ("LookupAttribute.1.Value", "AliyunCSManagedSecurityRole"),
                    ("MaxResults", "2"),
                    ("NextToken", token),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(names(&last), ["Encrypt/k0"]);
        assert!(last.get("NextToken").is_none());

        let start = format_timestamp(now - time::Duration::minutes(7));
        let forward = trail
            .lookup(
                &params(&[
                    ("StartTime", &start),
                    ("Direction", "FORWARD"),
                    ("LookupAttribute.1.Key", "EventName"),
                    ("LookupAttribute.1.Value", "Encrypt"),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(names(&forward), ["Encrypt/k3", "Encrypt/k4"]);
        let key = trail
            .lookup(
                &params(&[
                    ("LookupAttribute.1.Key", "ResourceName"),
                    ("LookupAttribute.1.Value", "k9"),
                    ("LookupAttribute.2.Key", "User"),
                    ("LookupAttribute.2.Value", "alice"),
                ]),
                now,
            )
            .unwrap();
        assert_eq!(names(&key), ["Decrypt/k9"]);
        assert_eq!(key["Events"][0]["userIdentity"]["type"], "ram-user");

        let err = trail
            .lookup(
                &params(&[
                    ("LookupAttribute.1.Key", "RoleName"),
                    ("LookupAttribute.1.Value", "x"),
                ]),
                now,
            )
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameter.LookupAttribute.Key");
        let err = trail
            .lookup(&params(&[("NextToken", "garbage")]), now)
            .unwrap_err();
        assert_eq!(err.code, "InvalidParameter.NextToken");
        let err = trail
            .lookup(&params(&[("MaxResults", "51")]), now)
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
    }

    #[test]
    fn the_ring_drops_the_oldest() {
        let now = OffsetDateTime::now_utc();
        let user = Caller::User {
            name: "alice".into(),
            access_key_id: "AK".into(),
        };
        let mut trail = Trail::with_capacity(3);
        for i in 0..5 {
            record(&mut trail, "Encrypt", &user, &format!("k{i}"), now);
        }
        assert_eq!(trail.len(), 3);
        let all = trail.lookup(&Params::default(), now).unwrap();
        assert_eq!(names(&all), ["Encrypt/k4", "Encrypt/k3", "Encrypt/k2"]);
    }
}
