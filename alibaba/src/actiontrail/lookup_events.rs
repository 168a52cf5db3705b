//! LookupEvents: one page of events for a time range and up to two lookup attributes, and
//! [`ActionTrailClient::lookup_all_events`], which follows `NextToken` page by page at the quota.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ActionTrailClient, ActionTrailError, Event, MAX_RESULTS, Result};
use crate::openapi::signature::format_timestamp;
use crate::openapi::{Params, param};

/// The keys of `LookupAttribute.N.Key`, as the API names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LookupKey {
    ServiceName,
    EventName,
    /// The RAM user's name (for an assumed role, its `<role>:<session>` user name).
    User,
    EventId,
    ResourceType,
    ResourceName,
    #[serde(rename = "EventRW")]
    EventRw,
    EventAccessKeyId,
}

impl LookupKey {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceName => "ServiceName",
            Self::EventName => "EventName",
            Self::User => "User",
            Self::EventId => "EventId",
            Self::ResourceType => "ResourceType",
            Self::ResourceName => "ResourceName",
            Self::EventRw => "EventRW",
            Self::EventAccessKeyId => "EventAccessKeyId",
        }
    }
}

/// One exact, case-sensitive match condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupAttribute {
    pub key: LookupKey,
    pub value: String,
}

impl LookupAttribute {
    pub fn new(key: LookupKey, value: impl Into<String>) -> Self {
        Self {
            key,
            value: value.into(),
        }
    }
}

/// The order of events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first, the API's default.
    #[default]
    Backward,
}

/// The query; `None` leaves a parameter to the API's default (the last 7 days, 20 results).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupEventsRequest {
    pub start_time: Option<OffsetDateTime>,
    pub end_time: Option<OffsetDateTime>,
    /// At most two, ANDed.
    pub lookup_attributes: Vec<LookupAttribute>,
    /// 1 to [`MAX_RESULTS`].
    pub max_results: Option<u32>,
    pub next_token: Option<String>,
    pub direction: Option<Direction>,
}

/// The most lookup attributes one request may carry.
pub const MAX_LOOKUP_ATTRIBUTES: usize = 2;

impl LookupEventsRequest {
    /// The RPC parameters, checked against the API's limits before anything is sent.
    fn params(&self) -> Result<Params> {
        let invalid = |detail: String| ActionTrailError::Request {
            operation: "LookupEvents",
            detail,
        };
        if self.lookup_attributes.len() > MAX_LOOKUP_ATTRIBUTES {
            return Err(invalid(format!(
                "{} lookup attributes given, the API takes at most {MAX_LOOKUP_ATTRIBUTES}",
                self.lookup_attributes.len()
            )));
        }
        let mut params = Vec::new();
        if let Some(start) = self.start_time {
            params.push(param("StartTime", format_timestamp(start)));
        }
        if let Some(end) = self.end_time {
            params.push(param("EndTime", format_timestamp(end)));
        }
        for (i, attribute) in self.lookup_attributes.iter().enumerate() {
            let n = i + 1;
            params.push(param(
                &format!("LookupAttribute.{n}.Key"),
                attribute.key.as_str(),
            ));
            params.push(param(
                &format!("LookupAttribute.{n}.Value"),
                attribute.value.clone(),
            ));
        }
        if let Some(max) = self.max_results {
            if !(1..=MAX_RESULTS).contains(&max) {
                return Err(invalid(format!(
                    "max results {max} is outside 1 to {MAX_RESULTS}"
                )));
            }
            params.push(param("MaxResults", max.to_string()));
        }
        if let Some(token) = &self.next_token {
            params.push(param("NextToken", token.clone()));
        }
        if let Some(direction) = self.direction {
            let direction = match direction {
                Direction::Forward => "FORWARD",
                Direction::Backward => "BACKWARD",
            };
            params.push(param("Direction", direction));
        }
        Ok(params)
    }
}

/// One page, with the API's field names.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct LookupEventsResponse {
    pub request_id: String,
    pub start_time: String,
    pub end_time: String,
    pub events: Vec<Event>,
    /// Absent on the last page.
    pub next_token: Option<String>,
}

impl ActionTrailClient {
    /// One page of LookupEvents.
    pub async fn lookup_events(
        &self,
        request: &LookupEventsRequest,
    ) -> Result<LookupEventsResponse> {
        let params = request.params()?;
        self.call("LookupEvents", params).await
    }

    /// Every page of the query from `request.next_token` on, at most `max_pages` of them (a
    /// bound, since a busy account's history is long); returns the events and the token to go on
    /// from when the bound stopped it.
    pub async fn lookup_all_events(
        &self,
        request: &LookupEventsRequest,
        max_pages: usize,
    ) -> Result<(Vec<Event>, Option<String>)> {
        let mut request = request.clone();
        let mut events = Vec::new();
        for _ in 0..max_pages {
            let page = self.lookup_events(&request).await?;
            events.extend(page.events);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(token) => request.next_token = Some(token),
                None => return Ok((events, None)),
            }
        }
        Ok((events, request.next_token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_use_the_api_names_and_limits() {
        let request = LookupEventsRequest {
            start_time: Some(OffsetDateTime::UNIX_EPOCH),
            lookup_attributes: vec![
                LookupAttribute::new(LookupKey::EventName, "Encrypt"),
                LookupAttribute::new(LookupKey::EventRw, "Read"),
            ],
            max_results: Some(50),
            direction: Some(Direction::Forward),
            ..Default::default()
        };
        let params = request.params().unwrap();
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("StartTime"), Some("1970-01-01T00:00:00Z"));
        assert_eq!(get("LookupAttribute.1.Key"), Some("EventName"));
        assert_eq!(get("LookupAttribute.2.Key"), Some("EventRW"));
        assert_eq!(get("LookupAttribute.2.Value"), Some("Read"));
        assert_eq!(get("Direction"), Some("FORWARD"));

        let three = LookupEventsRequest {
            lookup_attributes: vec![LookupAttribute::new(LookupKey::User, "a"); 3],
            ..Default::default()
        };
        assert!(
            three
                .params()
                .unwrap_err()
                .to_string()
                .contains("at most 2")
        );
        let big = LookupEventsRequest {
            max_results: Some(51),
            ..Default::default()
        };
        assert!(big.params().unwrap_err().to_string().contains("51"));
    }
}
