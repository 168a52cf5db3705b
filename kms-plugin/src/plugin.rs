//! The `v2.KeyManagementService` implementation: Status from the cached key observation,
//! Encrypt and Decrypt of the apiserver's seeds with Alibaba Cloud KMS.

use std::collections::HashMap;
use std::sync::Arc;

use secretkms_alibaba::kms::KmsError;
use tonic::{Request, Response, Status};

use crate::key_id::{KEY_VERSION_ANNOTATION, KeyVersionRef, MAX_KEY_ID_LEN};
use crate::key_watch::KeyWatch;
use crate::proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, KeyManagementService,
    StatusRequest, StatusResponse,
};

/// The KMS v2 API version reported by Status; it must never change once reported.
pub const API_VERSION: &str = "v2";

/// Longest ciphertext the apiserver accepts from Encrypt (`encryptedDEKSourceMaxSize`).
pub const MAX_CIPHERTEXT_LEN: usize = 1024;

/// The KMS v2 plugin service.
#[derive(Debug, Clone)]
pub struct Plugin {
    watch: Arc<KeyWatch>,
}

impl Plugin {
    pub fn new(watch: Arc<KeyWatch>) -> Self {
        Self { watch }
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

#[tonic::async_trait]
impl KeyManagementService for Plugin {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, Status> {
        let obs = self.watch.observation();
        let healthz = self.watch.healthz();
        if healthz != "ok" {
            tracing::debug!(%healthz, "status: not healthy");
        }
        Ok(Response::new(StatusResponse {
            version: API_VERSION.into(),
            healthz,
            // The last known key_id even while unhealthy, so it never flip-flops.
            key_id: obs.current().map(|k| k.to_string()).unwrap_or_default(),
        }))
    }

    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let EncryptRequest { plaintext, uid } = request.into_inner();
        if plaintext.is_empty() {
            return Err(Status::invalid_argument("encrypt: plaintext is empty"));
        }
        let key = self.key_id().await?;
        let wrapped = match self.watch.kms().encrypt(&key, &plaintext, None).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(%uid, key = %key, error = %e, "encrypt failed");
                if matches!(e, KmsError::KeyState(_) | KmsError::KeyNotFound(_)) {
                    // The cached state said usable; let Status catch up now.
                    self.watch.refresh_soon().await;
                }
                return Err(kms_status(&e));
            }
        };
        if wrapped.key_id != key {
            return Err(Status::internal(format!(
                "kms Encrypt with key {key} answered for key {}",
                wrapped.key_id
            )));
        }
        let used = KeyVersionRef::new(wrapped.key_id, wrapped.key_version_id);
        let ciphertext = wrapped.ciphertext_blob.into_bytes();
        if ciphertext.is_empty() || ciphertext.len() > MAX_CIPHERTEXT_LEN {
            return Err(Status::internal(format!(
                "kms Encrypt returned a {}-byte ciphertext; the apiserver accepts 1..={MAX_CIPHERTEXT_LEN}",
                ciphertext.len()
            )));
        }
        let key_id = used.to_string();
        if key_id.len() > MAX_KEY_ID_LEN {
            return Err(Status::internal(format!(
                "key_id {key_id:?} is longer than {MAX_KEY_ID_LEN} bytes"
            )));
        }
        if self.watch.observation().current().as_ref() != Some(&used) {
            // KMS wrapped with a version Status does not report yet (a rotation since the
            // last poll). Report the truth; the apiserver retries once Status agrees.
            tracing::info!(%key_id, "encrypt used a key version newer than the cached one; refreshing");
            self.watch.refresh_soon().await;
        }
        tracing::debug!(%uid, %key_id, "encrypted a seed");
        Ok(Response::new(EncryptResponse {
            ciphertext,
            annotations: HashMap::from([(
                KEY_VERSION_ANNOTATION.to_string(),
                used.key_version_id.clone().into_bytes(),
            )]),
            key_id,
        }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let DecryptRequest {
            ciphertext,
            uid,
            key_id,
            annotations,
        } = request.into_inner();
        let claimed =
            KeyVersionRef::parse(&key_id).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let ours = self.key_id().await?;
        if claimed.key_id != ours {
            return Err(Status::invalid_argument(format!(
                "key_id {key_id} belongs to kms key {}, but this plugin serves key {ours}",
                claimed.key_id
            )));
        }
        if let Some(version) = annotations.get(KEY_VERSION_ANNOTATION)
            && version.as_slice() != claimed.key_version_id.as_bytes()
        {
            return Err(Status::invalid_argument(format!(
                "annotation {KEY_VERSION_ANNOTATION}={:?} does not match key_id {key_id}",
                String::from_utf8_lossy(version)
            )));
        }
        let blob = std::str::from_utf8(&ciphertext).map_err(|_| {
            Status::invalid_argument(format!(
                "ciphertext for key_id {key_id} is not a kms ciphertext blob ({} bytes, not text)",
                ciphertext.len()
            ))
        })?;
        let decrypted = self.watch.kms().decrypt(blob, None).await.map_err(|e| {
            tracing::warn!(%uid, %key_id, error = %e, "decrypt failed");
            kms_status(&e)
        })?;
        // KMS names the key and version the blob was really wrapped with: a key_id that this
        // key never had, or a blob swapped in from another version or key, stops here.
        let actual = KeyVersionRef::new(decrypted.key_id, decrypted.key_version_id);
        if actual != claimed {
            return Err(Status::invalid_argument(format!(
                "ciphertext was wrapped by {actual}, not by key_id {key_id}"
            )));
        }
        Ok(Response::new(DecryptResponse {
            plaintext: decrypted.plaintext.0,
        }))
    }
}
