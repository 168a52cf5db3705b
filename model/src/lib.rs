//! The data secretkms hosts and policies share, written once: the encryption state and its
//! defaults, the policy test-case format, canned key answers for tests, which KMS endpoints may be
//! declared without force, and the fitting of admission warnings to what the kube-apiserver passes
//! on.
//!
//! Serde only, so that the policy kit can link it when compiled to WebAssembly
//! (`wasm32-unknown-unknown`) as well as the webhook and `kubectl secretkms` natively. The policy
//! runtime (`secretkms-core`) converts these types into the WIT contract's records; the policy
//! kit converts them into its generated ones for native tests.

pub mod canned_keys;
pub mod case;
pub mod defaults;
pub mod fix_commands;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod kms_endpoint;
mod state;
pub mod warnings;

pub use canned_keys::CannedKeys;
pub use kms_endpoint::{ForeignEndpoint, KmsEndpoint};
pub use state::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyIdReport, KeyState, KmsCheck,
    PluginFacts, RewriteFacts, SecretWriter, SourceStatus, describe_prefix,
};
