//! `v2.KeyManagementService`: Status from the cached key observation and crypto evidence,
//! Encrypt and Decrypt of the apiserver's seeds, the key_id and annotations per
//! `--key-id-mode`.

use tonic::{Request, Response, Status};

use super::Plugin;
use crate::key_claim::KeyClaim;
use crate::key_id::MAX_KEY_ID_LEN;
use crate::key_id_mode::Wrapping;
use crate::proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, KeyManagementService,
    StatusRequest, StatusResponse,
};

/// The KMS v2 API version reported by Status; it must never change once reported.
pub const API_VERSION: &str = "v2";

/// Longest ciphertext the apiserver accepts from Encrypt (`encryptedDEKSourceMaxSize`).
pub const MAX_CIPHERTEXT_LEN: usize = 1024;

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
            key_id: obs
                .current()
                .map(|k| self.mode.key_id(&k))
                .unwrap_or_default(),
        }))
    }

    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let EncryptRequest { plaintext, uid } = request.into_inner();
        let wrapped = self.wrap(&plaintext, &uid, MAX_CIPHERTEXT_LEN).await?;
        let key_id = self.mode.key_id(&wrapped.used);
        if key_id.len() > MAX_KEY_ID_LEN {
            return Err(Status::internal(format!(
                "key_id {key_id:?} is longer than {MAX_KEY_ID_LEN} bytes"
            )));
        }
        let region = self.watch.observation().region();
        let annotations = self.mode.annotations(
            &wrapped.used,
            &Wrapping {
                region: region.as_deref(),
                request_id: &wrapped.request_id,
            },
        );
        tracing::debug!(%uid, %key_id, key_version = %wrapped.used, "encrypted a seed");
        Ok(Response::new(EncryptResponse {
            ciphertext: wrapped.ciphertext,
            key_id,
            annotations,
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
        let claim = KeyClaim::from_v2(&key_id, &annotations);
        let plaintext = self
            .unwrap(&ciphertext, &uid, Some((key_id.as_str(), claim)))
            .await?;
        Ok(Response::new(DecryptResponse { plaintext }))
    }
}
