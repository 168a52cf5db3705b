//! Generates the `v2.KeyManagementService` server and client from a description in Rust, so the
//! build needs no `.proto` file and no `protoc`. The messages are hand-written in `src/proto.rs`;
//! the service, its package and its method names are upstream's `k8s.io/kms/apis/v2/api.proto`.

use tonic_build::manual::{Builder, Method, Service};

fn method(name: &str, route: &str, input: &str, output: &str) -> Method {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("super::{input}"))
        .output_type(format!("super::{output}"))
        .codec_path("tonic_prost::ProstCodec")
        .build()
}

fn main() {
    let service = Service::builder()
        .name("KeyManagementService")
        .package("v2")
        .method(method(
            "status",
            "Status",
            "StatusRequest",
            "StatusResponse",
        ))
        .method(method(
            "decrypt",
            "Decrypt",
            "DecryptRequest",
            "DecryptResponse",
        ))
        .method(method(
            "encrypt",
            "Encrypt",
            "EncryptRequest",
            "EncryptResponse",
        ))
        .build();
    Builder::new().compile(&[service]);
    println!("cargo:rerun-if-changed=build.rs");
}
