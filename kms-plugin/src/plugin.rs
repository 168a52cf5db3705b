//! The plugin services: KMS v2 (`v2.KeyManagementService`, [`v2`]) and KMS v1
//! (`v1beta1.KeyManagementService`, [`v1beta1`]) on one socket, so one process serves an
//! EncryptionConfiguration with `apiVersion: v1` or `v2` providers. Both wrap with the same
//! CMK's primary version and unwrap whatever the account's KMS can decrypt; Status answers from
//! the cached key observation and crypto evidence ([`crate::health`]).

mod v1beta1;
mod v2;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use secretkms_alibaba::kms::KmsError;
use tonic::Status;

use crate::key_claim::KeyClaim;
use crate::key_id::KeyVersionRef;
use crate::key_id_mode::KeyIdMode;
use crate::key_watch::KeyWatch;

pub use v2::{API_VERSION, MAX_CIPHERTEXT_LEN};

/// The name and version the v1 Version call reports.
pub const RUNTIME_NAME: &str = "secretkms-kms-plugin";
pub const RUNTIME_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Distinct warnings remembered before the memory is cleared (and they may repeat).
const MAX_REMEMBERED_WARNINGS: usize = 1024;

/// The plugin, shared by both services; cheap to clone.
#[derive(Debug, Clone)]
pub struct Plugin {
    watch: Arc<KeyWatch>,
    mode: KeyIdMode,
    /// Warnings already logged: a Decrypt storm at apiserver start-up (KMS v1 decrypts every
    /// Secret) must not log the same foreign key thousands of times.
    warned: Arc<Mutex<HashSet<String>>>,
}

/// A seed KMS wrapped.
#[derive(Debug)]
struct Wrapped {
    ciphertext: Vec<u8>,
    used: KeyVersionRef,
    request_id: String,
}

/// The gRPC status for a failed KMS call; the message is the error's, which names the
/// operation and KMS's code and never carries payloads.
fn kms_status(error: &KmsError) -> Status {
    let message = error.to_string();
    match error {
        KmsError::KeyState(_) => Status::failed_precondition(message),
        KmsError::KeyNotFound(_) => Status::not_found(message),
        KmsError::NoPermission(_) | KmsError::InvalidCredentials(_) => {
            Status::permission_denied(message)
        }
        KmsError::Throttled { .. } => Status::resource_exhausted(message),
        _ => Status::unavailable(message),
    }
}

impl Plugin {
    pub fn new(watch: Arc<KeyWatch>, mode: KeyIdMode) -> Self {
        Self {
            watch,
            mode,
            warned: Arc::default(),
        }
    }

    pub fn mode(&self) -> KeyIdMode {
        self.mode
    }

    /// The resolved CMK id, describing the key first if that has not succeeded yet.
    async fn key_id(&self) -> Result<String, Status> {
        if let Some(id) = self.watch.observation().key_id {
            return Ok(id);
        }
        let obs = self.watch.refresh_soon().await;
        obs.key_id.ok_or_else(|| {
            Status::unavailable(format!(
                "key {} is not resolved yet: {}",
                self.watch.configured(),
                obs.last_error.as_deref().unwrap_or("no DescribeKey answer")
            ))
        })
    }

    /// Wraps `plaintext` with the key's primary version; `max_len` is the API's ciphertext limit.
    async fn wrap(&self, plaintext: &[u8], uid: &str, max_len: usize) -> Result<Wrapped, Status> {
        if plaintext.is_empty() {
            return Err(Status::invalid_argument("encrypt: plaintext is empty"));
        }
        let key = self.key_id().await?;
        let wrapped = self.watch.encrypt(&key, plaintext).await.map_err(|e| {
            tracing::warn!(%uid, key = %key, error = %e, "encrypt failed");
            kms_status(&e)
        })?;
        if wrapped.key_id != key {
            return Err(Status::internal(format!(
                "kms Encrypt with key {key} answered for key {}",
                wrapped.key_id
            )));
        }
        let ciphertext = wrapped.ciphertext_blob.into_bytes();
        if ciphertext.is_empty() || ciphertext.len() > max_len {
            return Err(Status::internal(format!(
                "kms Encrypt returned a {}-byte ciphertext; the apiserver accepts 1..={max_len}",
                ciphertext.len()
            )));
        }
        Ok(Wrapped {
            ciphertext,
            used: KeyVersionRef::new(wrapped.key_id, wrapped.key_version_id),
            request_id: wrapped.request_id,
        })
    }

    /// Unwraps any blob the account's KMS can decrypt: KMS finds the key from the blob. A
    /// `claim` that disagrees with KMS's answer, and a blob of another key than this plugin's,
    /// are logged, not refused: refusing would make those Secrets unreadable.
    async fn unwrap(
        &self,
        ciphertext: &[u8],
        uid: &str,
        claim: Option<(&str, KeyClaim)>,
    ) -> Result<Vec<u8>, Status> {
        if ciphertext.is_empty() {
            return Err(Status::invalid_argument("decrypt: ciphertext is empty"));
        }
        let blob = std::str::from_utf8(ciphertext).map_err(|_| {
            Status::invalid_argument(format!(
                "ciphertext is not a kms ciphertext blob ({} bytes, not text)",
                ciphertext.len()
            ))
        })?;
        let decrypted = self.watch.decrypt(blob).await.map_err(|e| {
            tracing::warn!(%uid, error = %e, "decrypt failed");
            kms_status(&e)
        })?;
        let actual = KeyVersionRef::new(decrypted.key_id, decrypted.key_version_id);
        if let Some((label, claim)) = &claim
            && let Some(disagreement) = claim.disagreement(&actual)
            && self.first_time(format!("label {label} {actual}"))
        {
            tracing::warn!(
                key_id = %label, wrapped_by = %actual, %disagreement,
                "decrypted a seed whose key_id or annotations do not match its ciphertext; \
                 KMS decrypted it by the ciphertext, so it is served, but something relabelled it"
            );
        }
        let ours = self.watch.observation().key_id;
        if ours.as_deref().is_some_and(|ours| ours != actual.key_id)
            && self.first_time(format!("foreign {}", actual.key_id))
        {
            tracing::warn!(
                wrapped_by = %actual.key_id,
                encrypting_with = ours.as_deref().unwrap_or_default(),
                "decrypted a seed wrapped by another kms key than the one this plugin encrypts with; \
                 keep that key enabled until every Secret has been rewritten"
            );
        }
        Ok(decrypted.plaintext.0)
    }

    /// True the first time `what` is seen (within the bounded memory).
    fn first_time(&self, what: String) -> bool {
        let mut warned = self.warned.lock().unwrap_or_else(|p| p.into_inner());
        if warned.len() >= MAX_REMEMBERED_WARNINGS {
            warned.clear();
        }
        warned.insert(what)
    }
}
