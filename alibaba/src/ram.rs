//! Alibaba Cloud RAM (OpenAPI 2015-05-01, RPC style): the role and policy reads the ACK
//! prerequisites need — `GetRole` (is `AliyunCSManagedSecurityRole` authorized?) and
//! `ListPoliciesForRole` / `ListPoliciesForUser` (does the caller hold
//! `AliyunKMSCryptoAdminAccess`?).

mod client;
mod endpoint;
mod error;
mod get_role;
mod policies;

pub use client::{RamClient, RamConfig};
pub use endpoint::Endpoint;
pub use error::RamError;
pub use get_role::{GetRoleResponse, Role};
pub use policies::{AttachedPolicy, ListPoliciesResponse, Policies};

/// Result of RAM calls.
pub type Result<T, E = RamError> = std::result::Result<T, E>;

/// The RAM API version every request names.
pub const API_VERSION: &str = "2015-05-01";
