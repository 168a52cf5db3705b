//! The Helm chart on the real apiserver, one test binary: the values it accepts and refuses
//! (`values`), every `ci/*-values.yaml` rendering accepted by the apiserver and holding what every
//! rendering must (`rendering`), upgrades keeping its certificates (`upgrade`), and its rendered
//! configuration — webhook configuration, RBAC, ServiceAccount, the `cluster` object and the
//! Deployment's arguments and environment — really guarding Secrets with a webhook that runs as
//! the chart's ServiceAccount and no more (`installed`, `guard`).
//!
//! Three control planes: the shared one (lint, render, dry runs), and one each for the upgrade
//! and the installed chart, which register cluster-wide webhook configurations.

mod guard;
mod installed;
mod rendering;
mod upgrade;
mod values;

use std::path::Path;
use std::process::Output;

const WEBHOOK: &str = env!("CARGO_BIN_EXE_secretkms-webhook-e2e");
const EMULATOR: &str = env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e");
const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e");
const RELEASE: &str = "skms";
const NAMESPACE: &str = "secretkms";
const FULLNAME: &str = "skms-secretkms";
const KEY_ALIAS: &str = "alias/k8s-secrets";

/// Asserts that a command succeeded, showing its output otherwise; returns its stdout.
fn ok(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// `openssl verify` of `leaf_pem` against `ca_pem` for `dns_name`: an independent check of the
/// chart's self-managed TLS.
fn openssl_verify(ca_pem: &str, leaf_pem: &str, dns_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca_pem).unwrap();
    std::fs::write(dir.path().join("leaf.pem"), leaf_pem).unwrap();
    let out = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "verify",
            "-CAfile",
            "ca.pem",
            "-verify_hostname",
            dns_name,
            "leaf.pem",
        ])
        .output()
        .expect("openssl is installed");
    ok(
        &out,
        &format!("openssl verify of the serving certificate for {dns_name}"),
    );
}
