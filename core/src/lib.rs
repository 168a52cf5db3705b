//! The shared library of secretkms: the policy runtime that evaluates WebAssembly policies
//! against the encryption state (`secretkms-model`) that both the webhook and the kubectl plugin
//! reason about, the judgement derived from that state, and the glue that turns what real sources
//! answer into its facts. The Alibaba Cloud clients themselves are `secretkms_alibaba`'s.

pub mod apiserver_health;
pub mod apiserver_metrics;
pub mod judgement;
pub mod kms_facts;
pub mod observations;
pub mod policy;
pub mod review;
pub mod rotation_reach;
pub mod secret_encryption;
pub mod secret_writers;
pub mod webhook_readyz;
