//! The KMS v1 plugin API (`proto/v1beta1/api.proto`, upstream's `k8s.io/kms/apis/v1beta1`,
//! `package v1beta1`, deprecated upstream but still behind the `KMSv1` gate) as hand-written
//! prost messages with upstream's field numbers, plus the generated tonic server and client for
//! `v1beta1.KeyManagementService`. The apiserver calls Encrypt on every write with a fresh DEK
//! and checks Version once per connection.

#![allow(missing_debug_implementations)] // generated server/client types

/// The API version both sides send and expect.
pub const API_VERSION: &str = "v1beta1";

#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionRequest {
    #[prost(string, tag = "1")]
    pub version: String,
}

/// `version` must be `v1beta1`; the runtime fields name the plugin.
#[derive(Clone, PartialEq, prost::Message)]
pub struct VersionResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub runtime_name: String,
    #[prost(string, tag = "3")]
    pub runtime_version: String,
}

/// A wrapped DEK to unwrap, exactly as Encrypt returned it; v1 carries no key id.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(bytes = "vec", tag = "2")]
    pub cipher: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plain: Vec<u8>,
}

/// The apiserver's DEK to wrap.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(bytes = "vec", tag = "2")]
    pub plain: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub cipher: Vec<u8>,
}

include!(concat!(env!("OUT_DIR"), "/v1beta1.KeyManagementService.rs"));

pub use key_management_service_client::KeyManagementServiceClient;
pub use key_management_service_server::{KeyManagementService, KeyManagementServiceServer};

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// Bytes written by hand from the proto's field numbers and wire types.
    #[test]
    fn version_messages_use_upstream_field_numbers() {
        let request = VersionRequest {
            version: "v".into(),
        };
        assert_eq!(request.encode_to_vec(), [0x0a, 1, b'v']);
        let response = VersionResponse {
            version: "v".into(),
            runtime_name: "n".into(),
            runtime_version: "1".into(),
        };
        assert_eq!(
            response.encode_to_vec(),
            [0x0a, 1, b'v', 0x12, 1, b'n', 0x1a, 1, b'1']
        );
    }

    #[test]
    fn crypto_messages_use_upstream_field_numbers() {
        let encrypt = EncryptRequest {
            version: "v".into(),
            plain: vec![7],
        };
        assert_eq!(encrypt.encode_to_vec(), [0x0a, 1, b'v', 0x12, 1, 7]);
        let decrypt = DecryptRequest {
            version: "v".into(),
            cipher: vec![9],
        };
        assert_eq!(decrypt.encode_to_vec(), [0x0a, 1, b'v', 0x12, 1, 9]);
        assert_eq!(
            EncryptResponse { cipher: vec![3] }.encode_to_vec(),
            [0x0a, 1, 3]
        );
        assert_eq!(
            DecryptResponse { plain: vec![4] }.encode_to_vec(),
            [0x0a, 1, 4]
        );
    }
}
