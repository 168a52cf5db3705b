//! Alibaba Cloud STS (OpenAPI 2015-04-01, RPC style) as a service client: `GetCallerIdentity`, who
//! the signing credentials belong to. (Exchanging tokens for credentials is the credential chain's
//! job, [`crate::credentials`], which signs its own STS calls.)

mod client;
mod endpoint;
mod error;
mod get_caller_identity;

pub use client::{StsClient, StsConfig};
pub use endpoint::Endpoint;
pub use error::StsError;
pub use get_caller_identity::{CallerIdentity, IdentityType};

/// Result of STS calls.
pub type Result<T, E = StsError> = std::result::Result<T, E>;

/// The STS API version every request names.
pub const API_VERSION: &str = "2015-04-01";
