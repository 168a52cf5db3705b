//! UPDATEs that only remove finalizers from a Secret being deleted: "DELETE is never blocked"
//! must hold for Secrets with finalizers too, whose deletion ends with such an update.
//!
//! Which changes count, and why admitting them while unhealthy is safe (the apiserver's
//! `genericregistry.Store.Update` and `ShouldDeleteDuringUpdate`, k8s.io/apiserver
//! pkg/registry/generic/registry/store.go):
//! - The old object has a `deletionTimestamp`, the new one keeps only some of the old
//!   finalizers, and nothing else differs but what the apiserver maintains itself
//!   (`resourceVersion`, `managedFields`, `generation`): no data, type, label or annotation.
//! - When the last finalizer goes (and the grace period is 0 or unset, as for every Secret), the
//!   apiserver deletes the object instead of storing it: nothing is written, so nothing can be
//!   written in plaintext or under the wrong key.
//! - When some finalizers remain, the apiserver stores the whole object again under the first
//!   provider. That write is harmful only when the first provider is not KMS (plaintext or a
//!   local key), so only that finding still denies; a broken KMS makes the write fail by itself.
//!
//! Any other metadata-only update of a live Secret is not admitted while unhealthy: the apiserver
//! re-encrypts and stores the whole Secret on every update, so a label change writes its data.

use secretkms_policy_kit::{AdmissionRequest, Operation};

/// What a finalizer-only update does in etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinalizerRemoval {
    /// The last finalizer goes: the apiserver deletes the Secret without writing it.
    Deletes,
    /// Finalizers remain: the apiserver stores the Secret again under its first provider.
    Rewrites,
}

impl FinalizerRemoval {
    /// The audit annotation's value.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Deletes => "the last finalizer of a Secret being deleted: deleted, not written",
            Self::Rewrites => {
                "finalizers of a Secret being deleted: stored under the first provider"
            }
        }
    }
}

/// The request as a finalizer removal, if it is exactly one.
pub fn finalizer_removal(request: &AdmissionRequest<'_>) -> Option<FinalizerRemoval> {
    if request.operation != Operation::Update {
        return None;
    }
    let (new, old) = (request.object.as_ref()?, request.old_object.as_ref()?);
    let (new_meta, old_meta) = (&new.metadata, &old.metadata);
    let removes_only = new_meta.finalizers.len() < old_meta.finalizers.len()
        && new_meta
            .finalizers
            .iter()
            .all(|f| old_meta.finalizers.contains(f));
    if old_meta.deletion_timestamp.is_none()
        || !removes_only
        || !new.differs_only_in_finalizers(old)
    {
        return None;
    }
    let no_grace = matches!(old_meta.deletion_grace_period_seconds, None | Some(0));
    Some(if new_meta.finalizers.is_empty() && no_grace {
        FinalizerRemoval::Deletes
    } else {
        FinalizerRemoval::Rewrites
    })
}
