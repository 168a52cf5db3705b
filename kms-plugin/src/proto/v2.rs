//! The KMS v2 plugin API (`proto/v2/api.proto`, upstream's `k8s.io/kms/apis/v2`, `package v2`)
//! as hand-written prost messages with upstream's field numbers, plus the tonic server and
//! client that `build.rs` generates for `v2.KeyManagementService`. Writing the messages by hand
//! keeps `protoc` out of the build; the wire-format tests below pin the numbering.

#![allow(missing_debug_implementations)] // generated server/client types

use std::collections::HashMap;

/// `Status` takes no arguments.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusRequest {}

/// What the apiserver polls: `version` must be `v2`, `healthz` exactly `ok` when healthy, and
/// `key_id` the id of the key that new seeds are encrypted with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct StatusResponse {
    #[prost(string, tag = "1")]
    pub version: String,
    #[prost(string, tag = "2")]
    pub healthz: String,
    #[prost(string, tag = "3")]
    pub key_id: String,
}

/// A seed to unwrap, exactly as `Encrypt` returned it, with the key_id and annotations.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub uid: String,
    #[prost(string, tag = "3")]
    pub key_id: String,
    #[prost(map = "string, bytes", tag = "4")]
    pub annotations: HashMap<String, Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct DecryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
}

/// The apiserver's 32-byte seed to wrap.
#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptRequest {
    #[prost(bytes = "vec", tag = "1")]
    pub plaintext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub uid: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct EncryptResponse {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(string, tag = "2")]
    pub key_id: String,
    #[prost(map = "string, bytes", tag = "3")]
    pub annotations: HashMap<String, Vec<u8>>,
}

include!(concat!(env!("OUT_DIR"), "/v2.KeyManagementService.rs"));

pub use key_management_service_client::KeyManagementServiceClient;
pub use key_management_service_server::{KeyManagementService, KeyManagementServiceServer};

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// Bytes written by hand from the proto's field numbers and wire types: a renumbered field
    /// or a wrong type would encode differently.
    #[test]
    fn status_response_uses_upstream_field_numbers() {
        let encoded = StatusResponse {
            version: "v2".into(),
            healthz: "ok".into(),
            key_id: "k".into(),
        }
        .encode_to_vec();
        assert_eq!(
            encoded,
            [0x0a, 2, b'v', b'2', 0x12, 2, b'o', b'k', 0x1a, 1, b'k']
        );
    }

    #[test]
    fn decrypt_request_uses_upstream_field_numbers() {
        let encoded = DecryptRequest {
            ciphertext: vec![0xff],
            uid: "u".into(),
            key_id: "k".into(),
            annotations: HashMap::from([("a.b".to_string(), vec![1])]),
        }
        .encode_to_vec();
        // field 4 is a map entry: a nested message with key = 1 (string), value = 2 (bytes).
        let expected = [
            0x0a, 1, 0xff, 0x12, 1, b'u', 0x1a, 1, b'k', 0x22, 8, 0x0a, 3, b'a', b'.', b'b', 0x12,
            1, 1,
        ];
        assert_eq!(encoded, expected);
        assert_eq!(DecryptRequest::decode(&expected[..]).unwrap().key_id, "k");
    }

    #[test]
    fn encrypt_messages_use_upstream_field_numbers() {
        let request = EncryptRequest {
            plaintext: vec![7],
            uid: "u".into(),
        };
        assert_eq!(request.encode_to_vec(), [0x0a, 1, 7, 0x12, 1, b'u']);
        let response = EncryptResponse {
            ciphertext: vec![9],
            key_id: "k".into(),
            annotations: HashMap::new(),
        };
        assert_eq!(response.encode_to_vec(), [0x0a, 1, 9, 0x12, 1, b'k']);
        let decrypted = DecryptResponse { plaintext: vec![5] };
        assert_eq!(decrypted.encode_to_vec(), [0x0a, 1, 5]);
    }
}
