//! The shared library of secretkms: the policy runtime that evaluates WebAssembly policies
//! against the encryption state (`secretkms-model`) that both the webhook and the kubectl plugin
//! reason about, and the clients that gather its facts from their real sources.

pub mod apiserver_health;
pub mod credentials;
pub mod judgement;
pub mod kms;
pub mod observations;
pub mod policy;
pub mod review;
pub mod secret_encryption;
