//! What the real-cluster tests share, so that each reads as sentences: a Secret carrying a
//! marker, one healthy EncryptionState, `eventually`, `accepts`/`rejects` in a throwaway labelled
//! namespace, CRD establishment, a control plane that encrypts through the KMS stack, and a local
//! ACK with the project's CS and ActionTrail clients pointed at it.
//! Fixtures panic with a message rather than return errors: they are for tests.
//!
//! ```no_run
//! # async fn demo() {
//! use secretkms_e2e::ControlPlane;
//! use secretkms_e2e::fixtures::{Admission, secret};
//! let cp = ControlPlane::shared();
//! let client = cp.client().await.unwrap();
//! let admission = Admission::new(cp, &client, "plain");
//! admission.accepts(|_ns| secret("app")).await;
//! # }
//! ```

pub mod admission;
pub mod crd;
pub mod encrypted_cluster;
pub mod eventually;
pub mod kms_v1_envelope;
pub mod local_ack;
pub mod parallel;
pub mod secret;
pub mod state;

pub use admission::Admission;
pub use crd::{established, install_crd};
pub use encrypted_cluster::encrypted_cluster;
pub use eventually::eventually;
pub use kms_v1_envelope::kms_v1_key_version;
pub use local_ack::{cs_client, local_ack, trail_client};
pub use parallel::{Variant, in_parallel, variant};
pub use secret::{MARKER, create_secret, holds_marker, reads_back, secret};
pub use state::{KEY, disabled, healthy, with_key};
