//! Alibaba Cloud BSS OpenAPI (billing, 2017-12-14, RPC style): `QueryAccountBalance`, for ACK's
//! warning that an account overdue for more than seven days can no longer manage its clusters.

mod client;
mod endpoint;
mod error;
mod query_account_balance;

pub use client::{BssClient, BssConfig};
pub use endpoint::Endpoint;
pub use error::BssError;
pub use query_account_balance::{AccountBalance, QueryAccountBalanceResponse};

/// Result of BSS calls.
pub type Result<T, E = BssError> = std::result::Result<T, E>;

/// The BSS OpenAPI version every request names.
pub const API_VERSION: &str = "2017-12-14";
