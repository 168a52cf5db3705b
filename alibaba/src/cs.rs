//! Alibaba Cloud Container Service for Kubernetes (ACK; CS OpenAPI 2015-12-15, ROA style): the
//! calls behind ACK's Secret-encryption flows — `UpdateKMSEncryption` (turn KMS encryption of
//! Secrets on or off), `DescribeClusterDetail` (is the cluster `updating` or `running`, which
//! Kubernetes version, which key) and `DescribeUserPermission` (does the caller hold the cluster's
//! admin or O&M role).

mod client;
mod cluster_detail;
mod cluster_state;
mod endpoint;
mod error;
mod update_kms_encryption;
mod user_permission;

pub use client::{CsClient, CsConfig};
pub use cluster_detail::{ClusterDetail, META_DATA_ENCRYPTION_KEY};
pub use cluster_state::ClusterState;
pub use endpoint::Endpoint;
pub use error::{CsError, FORBIDDEN_UPDATE_KMS_STATE};
pub use update_kms_encryption::UpdateKmsEncryption;
pub use user_permission::{ClusterPermission, ClusterRoleType, ResourceType};

/// Result of CS calls.
pub type Result<T, E = CsError> = std::result::Result<T, E>;

/// The CS API version every request names.
pub const API_VERSION: &str = "2015-12-15";
