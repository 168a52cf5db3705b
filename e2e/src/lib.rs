//! Test support: a real etcd and kube-apiserver started on loopback with real TLS, for the
//! real-cluster tests and the demo. Nothing here fakes Kubernetes: the binaries are upstream's,
//! built from the Go module proxy by `hack/control-plane-bins.sh`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), secretkms_e2e::HarnessError> {
//! let cp = secretkms_e2e::ControlPlane::shared();
//! let client = cp.client().await?;
//! let ns = cp.namespace(&client, "my-test").await?;
//! let stored = cp.etcd().get(&format!("/registry/secrets/{ns}/app")).await?;
//! # Ok(()) }
//! ```

pub mod ack;
pub mod binaries;
pub mod chart;
pub mod control_plane;
pub mod controller_manager;
pub mod encryption;
pub mod error;
pub mod etcd;
pub mod fixtures;
pub mod kms;
pub mod kubeconfig;
pub mod layout;
pub mod loopback_port;
pub mod pki;
pub mod process;
pub mod readyz;
pub mod tcp_proxy;
pub mod webhook;

pub use binaries::{Binaries, Tool, repo_root};
pub use control_plane::{Apiserver, ControlPlane, Options, TEST_NAMESPACE_LABEL};
pub use controller_manager::ControllerManager;
pub use encryption::Encryption;
pub use error::{HarnessError, Result};
pub use etcd::EtcdReader;
pub use kms::{KmsStack, KmsStackOptions};
pub use layout::{Cluster, Layout};
pub use readyz::Readyz;
pub use tcp_proxy::TcpProxy;
pub use webhook::{Webhook, WebhookOptions};
