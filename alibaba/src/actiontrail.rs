//! Alibaba Cloud ActionTrail (OpenAPI 2020-07-06, RPC style): `LookupEvents`, the account's API
//! event history — for ACK, the documented check that Encrypt/Decrypt calls are made by
//! `AliyunCSManagedSecurityRole`. Pages follow `NextToken`; the client spaces its calls to the
//! API's quota ([`LOOKUP_EVENTS_PER_SECOND`]).

mod client;
mod endpoint;
mod error;
mod event;
mod lookup_events;
mod rate_limit;

pub use client::{ActionTrailClient, ActionTrailConfig};
pub use endpoint::Endpoint;
pub use error::ActionTrailError;
pub use event::{Event, UserIdentity};
pub use lookup_events::{
    Direction, LookupAttribute, LookupEventsRequest, LookupEventsResponse, LookupKey,
};
pub use rate_limit::RateLimiter;

/// Result of ActionTrail calls.
pub type Result<T, E = ActionTrailError> = std::result::Result<T, E>;

/// The ActionTrail API version every request names.
pub const API_VERSION: &str = "2020-07-06";

/// LookupEvents' request quota: about 2 calls per second per account
/// (`shared/reference/field-facts.md` §4, from Alibaba Cloud's LookupEvents API reference).
/// Over it, ActionTrail throttles, so the client never sends faster.
pub const LOOKUP_EVENTS_PER_SECOND: u32 = 2;

/// The largest `MaxResults` LookupEvents accepts.
pub const MAX_RESULTS: u32 = 50;
