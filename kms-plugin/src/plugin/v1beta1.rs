//! `v1beta1.KeyManagementService` for `apiVersion: v1` providers: Version, and Encrypt and
//! Decrypt of the apiserver's DEKs. The apiserver calls Encrypt on every write, so each call
//! wraps with the key's primary version at that moment; v1 has no key_id, so a rotation needs
//! nothing from the plugin and Decrypt has no label to check.

use tonic::{Request, Response, Status};

use super::{Plugin, RUNTIME_NAME, RUNTIME_VERSION};
use crate::proto::v1beta1::{
    API_VERSION, DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse,
    KeyManagementService, VersionRequest, VersionResponse,
};

/// The v1 envelope stores the wrapped DEK behind a 16-bit length.
const MAX_CIPHER_LEN: usize = u16::MAX as usize;

#[tonic::async_trait]
impl KeyManagementService for Plugin {
    async fn version(
        &self,
        request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        let asked = request.into_inner().version;
        if asked != API_VERSION {
            tracing::warn!(%asked, "kms v1 Version asked for an api version other than {API_VERSION}");
        }
        Ok(Response::new(VersionResponse {
            version: API_VERSION.into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: RUNTIME_VERSION.into(),
        }))
    }

    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, Status> {
        let EncryptRequest { version: _, plain } = request.into_inner();
        let wrapped = self.wrap(&plain, "v1", MAX_CIPHER_LEN).await?;
        tracing::debug!(key_version = %wrapped.used, "kms v1: encrypted a dek");
        Ok(Response::new(EncryptResponse {
            cipher: wrapped.ciphertext,
        }))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, Status> {
        let DecryptRequest { version: _, cipher } = request.into_inner();
        let plain = self.unwrap(&cipher, "v1", None).await?;
        Ok(Response::new(DecryptResponse { plain }))
    }
}
