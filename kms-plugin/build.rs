//! Generates the servers and clients of `v2.KeyManagementService` and
//! `v1beta1.KeyManagementService` from the `service` blocks of the vendored upstream protos
//! (`proto/<package>/api.proto`, copied from `k8s.io/kms/apis`), so the package and method
//! names are upstream's and the build needs no `protoc`. The messages are hand-written in
//! `src/proto/`; their wire-format tests pin the field numbers.

use tonic_build::manual::{Builder, Method, Service};

/// The packages served, each `proto/<package>/api.proto`.
const PACKAGES: [&str; 2] = ["v2", "v1beta1"];

/// `rpc Name(Input) returns (Output)` lines of the proto's `service` block.
fn rpcs(proto: &str) -> Vec<(String, String, String)> {
    proto
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            let rest = line.strip_prefix("rpc ")?;
            let (name, rest) = rest.split_once('(')?;
            let (input, rest) = rest.split_once(')')?;
            let rest = rest.trim_start().strip_prefix("returns")?.trim_start();
            let output = rest.strip_prefix('(')?.split_once(')')?.0;
            Some((
                name.trim().to_string(),
                input.trim().to_string(),
                output.trim().to_string(),
            ))
        })
        .collect()
}

/// `encrypt` from `Encrypt`: tonic's method names are snake case.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn main() {
    let mut services = Vec::new();
    for package in PACKAGES {
        let path = format!("proto/{package}/api.proto");
        println!("cargo:rerun-if-changed={path}");
        let proto = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(
            proto.contains(&format!("package {package};"))
                && proto.contains("service KeyManagementService {"),
            "{path} is not package {package} with service KeyManagementService"
        );
        let methods = rpcs(&proto);
        assert!(
            methods.len() == 3,
            "{path}: expected 3 rpcs, found {methods:?}"
        );
        let mut service = Service::builder()
            .name("KeyManagementService")
            .package(package);
        for (name, input, output) in methods {
            service = service.method(
                Method::builder()
                    .name(snake_case(&name))
                    .route_name(&name)
                    .input_type(format!("super::{input}"))
                    .output_type(format!("super::{output}"))
                    .codec_path("tonic_prost::ProstCodec")
                    .build(),
            );
        }
        services.push(service.build());
    }
    Builder::new().compile(&services);
    println!("cargo:rerun-if-changed=build.rs");
}
