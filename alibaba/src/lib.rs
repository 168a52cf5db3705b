//! The Alibaba Cloud side of secretkms: one OpenAPI layer (request styles, signing, endpoints,
//! retries, typed errors), the SDKs' credential chain, and one module per cloud service on top.
//!
//! - [`openapi`]: what every Alibaba Cloud product shares — RPC and ROA requests signed with
//!   ACS3-HMAC-SHA256 or HMAC-SHA1, regional endpoints, bounded retries, error answers.
//! - [`credentials`]: where the AccessKey comes from (environment, RRSA, profile, ECS role).
//! - [`kms`]: Key Management Service (2016-01-20).
//! - [`sts`] (`GetCallerIdentity`), [`ram`] (roles and attached policies), [`actiontrail`]
//!   (`LookupEvents`, paged at its quota) and [`bss`] (`QueryAccountBalance`): the reads behind
//!   ACK's encryption prerequisites and checks, each one more module on [`openapi`].
//! - [`cs`]: Container Service for Kubernetes (ACK, 2015-12-15, ROA): `UpdateKMSEncryption`,
//!   `DescribeClusterDetail`, `DescribeUserPermission`.
//!
//! This is also the lowest crate every secretkms binary links, which is why the process-wide
//! pieces they all need — [`install_crypto_provider`] and [`duration::parse`] — live here.
//!
//! The crate knows nothing of Kubernetes or the policy runtime: the KMS v2 plugin and the KMS
//! emulator depend on it alone.

pub mod actiontrail;
pub mod bss;
pub mod credentials;
mod crypto_provider;
pub mod cs;
pub mod duration;
pub mod error_chain;
pub mod kms;
pub mod openapi;
pub mod ram;
pub mod sts;

pub use crypto_provider::install_crypto_provider;
