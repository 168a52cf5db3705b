//! Alibaba Cloud KMS (OpenAPI 2016-01-20, RPC style): the endpoint, the typed operations (one
//! module each), their typed responses with the real field names, and errors typed by what a
//! caller does about them. Signing, retries and transport are [`crate::openapi`]'s.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use secretkms_alibaba::credentials::{DefaultChain, Environment};
//! use secretkms_alibaba::kms::{Endpoint, KmsClient, KmsConfig};
//!
//! let credentials = Arc::new(DefaultChain::cached(&Environment::from_process()));
//! let kms = KmsClient::new(KmsConfig::new(Endpoint::Vpc { region: "cn-hangzhou".into() }), credentials)?;
//! let key = kms.describe_key("alias/k8s-secrets").await?.key_metadata;
//! println!("{} is {}", key.key_id, key.key_state);
//! # Ok(()) }
//! ```

mod aliases;
mod client;
mod create_key;
mod decrypt;
mod deletion_protection;
mod describe_key;
mod encrypt;
pub mod endpoint;
mod error;
mod generate_data_key;
mod key_lifecycle;
mod key_metadata;
mod key_versions;
mod plaintext;
mod rotation;

pub use aliases::{Alias, Aliases, ListAliasesResponse};
pub use client::{Acknowledged, KmsClient, KmsConfig};
pub use create_key::{CreateKeyRequest, CreateKeyResponse};
pub use decrypt::Decrypted;
pub use describe_key::DescribeKeyResponse;
pub use encrypt::EncryptResponse;
pub use endpoint::{Endpoint, EndpointError, KeyLocation, resolve};
pub use error::KmsError;
pub use generate_data_key::DataKey;
pub use key_metadata::{KeyArn, KeyMetadata};
pub use key_versions::{
    DescribeKeyVersionResponse, KeyVersion, KeyVersions, ListKeyVersionsResponse,
};
pub use plaintext::SecretBytes;

pub use crate::openapi::{ApiError, RetryPolicy, SignatureMethod};

/// Result of KMS calls.
pub type Result<T, E = KmsError> = std::result::Result<T, E>;

/// The KMS API version every request names.
pub const API_VERSION: &str = "2016-01-20";
