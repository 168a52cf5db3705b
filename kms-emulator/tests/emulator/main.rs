//! Integration tests of the KMS emulator with the project's client, credential chain, binary,
//! and the official Python SDKs. Every test starts its own emulator on 127.0.0.1:0.

mod cli;
mod client;
mod cloud;
mod credentials;
mod cs;
mod sdk;

use std::sync::Arc;

use secretkms_alibaba::credentials::{Credentials, StaticProvider};
use secretkms_alibaba::kms::{
    Endpoint, KeyMetadata, KmsClient, KmsConfig, RetryPolicy, SignatureMethod,
};
use secretkms_kms_emulator::{
    DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, Running, SeedKey,
};

/// An emulator with the given seed keys (`alias=...,spec=...`).
pub async fn emulator(seeds: &[&str]) -> Running {
    let config = EmulatorConfig {
        seed_keys: seeds
            .iter()
            .map(|s| s.parse::<SeedKey>().unwrap())
            .collect(),
        ..EmulatorConfig::default()
    };
    secretkms_kms_emulator::start(config).await.unwrap()
}

pub fn config(emu: &Running, method: SignatureMethod) -> KmsConfig {
    let mut config = KmsConfig::new(Endpoint::parse(&emu.url).unwrap());
    config.signature = method;
    config.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: std::time::Duration::from_millis(20),
        max_delay: std::time::Duration::from_millis(200),
    };
    config
}

pub fn client_with(config: KmsConfig, id: &str, secret: &str) -> KmsClient {
    KmsClient::new(
        config,
        Arc::new(StaticProvider(Credentials::access_key(id, secret, "test"))),
    )
    .unwrap()
}

pub fn client(emu: &Running, method: SignatureMethod) -> KmsClient {
    client_with(
        config(emu, method),
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_ACCESS_KEY_SECRET,
    )
}

/// DescribeKey's metadata of `key`, which must exist.
pub async fn metadata(kms: &KmsClient, key: &str) -> KeyMetadata {
    kms.describe_key(key).await.unwrap().key_metadata
}

/// POSTs a test control and returns its JSON answer.
pub async fn control(
    emu: &Running,
    path_and_query: &str,
    body: Option<serde_json::Value>,
) -> serde_json::Value {
    let http = reqwest::Client::new();
    let url = format!("{}/_emulator/{path_and_query}", emu.url);
    let request = match body {
        Some(b) => http.post(url).body(b.to_string()),
        None => http.post(url),
    };
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "control {path_and_query} failed: {}",
        response.status()
    );
    response.json().await.unwrap()
}
