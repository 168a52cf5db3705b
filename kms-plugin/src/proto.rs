//! The KMS plugin APIs kube-apiserver speaks, as hand-written prost messages with upstream's
//! field numbers (`proto/` holds the vendored upstream files) and the tonic servers and clients
//! that `build.rs` generates from those files. KMS v2 is re-exported at the root: it is the API
//! the plugin is built around; v1beta1 serves `apiVersion: v1` providers on the same socket.

pub mod v1beta1;
pub mod v2;

pub use v2::*;
