//! The shared library of secretkms: the encryption-state model that both the webhook and the
//! kubectl plugin reason about, the policy runtime that evaluates WebAssembly policies against it,
//! and the clients that gather its facts from their real sources.

pub mod apiserver_health;
pub mod apiserver_metrics;
pub mod credentials;
pub mod kms;
pub mod observations;
pub mod policy;
pub mod review;
pub mod secret_encryption;
pub mod state;
