//! What every Alibaba Cloud product's OpenAPI shares, written once: the two request styles (RPC:
//! `Action` + parameters on `/`; ROA: a REST path with a JSON body), the two signatures
//! (ACS3-HMAC-SHA256 and the RPC HMAC-SHA1 one), regional endpoints, bounded retries, and the
//! error answers. A service module ([`crate::kms`], [`crate::sts`], [`crate::ram`],
//! [`crate::actiontrail`], [`crate::bss`], [`crate::cs`]) is its endpoint, its typed operations and its
//! typed errors on top of [`Client`].
//!
//! Layering inside the crate: [`signature`], [`endpoint`] and [`retry`] are pure and know
//! nothing of credentials, so [`crate::credentials`] (STS, ECS metadata) builds on them;
//! [`Client`] sits above both and signs with whatever the credential chain returns. Error text
//! that can carry credential material (URLs, echoed requests, decoded answers) passes through
//! [`redact`] on both layers.

mod client;
pub mod endpoint;
pub mod error;
pub mod redact;
mod request;
pub mod retry;
pub mod signature;

pub use client::{Client, ClientConfig, decode_answer};
pub use endpoint::ServiceEndpoint;
pub use error::{ApiError, Error, Result};
pub use request::{Params, Request, SignedRequest, Style, param};
pub use retry::RetryPolicy;
pub use signature::SignatureMethod;
