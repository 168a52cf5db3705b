//! One healthy encryption state, for the tests that need "everything fine" and change only what
//! they are about: the declared alias resolves to an Enabled `Aliyun_AES_256` key with deletion
//! protection and automatic rotation on, the apiserver's KMS provider is configured, healthy and first (it writes Secrets),
//! the KMS v2 plugin encrypts with the key's primary version, the rewrite is done, and every
//! source answered 12 s ago.
//!
//! `webhook/tests/data/healthy-state.json` is this state in its file form (a test keeps the two
//! equal).

use crate::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyState, KmsCheck, PluginFacts,
    RewriteFacts, SecretWriter, SourceStatus, defaults,
};

/// The declared key.
pub const KEY_ALIAS: &str = "alias/k8s-secrets";
/// The id the alias resolves to.
pub const KEY_ID: &str = "key-hzz6c1b9e6d1wyd3b5kzi";
/// The key's ARN.
pub const KEY_ARN: &str = "acs:kms:cn-hangzhou:1234567890123456:key/key-hzz6c1b9e6d1wyd3b5kzi";
/// The key's primary version.
pub const KEY_VERSION: &str = "7f3e5a2c-1b4d-4e8f-9a6b-2c1d0e9f8a7b";
/// The key's region, also the declared one.
pub const REGION: &str = "cn-hangzhou";
/// The evaluation time, Unix seconds.
pub const NOW: i64 = 1_777_630_000;
/// The stored prefix of the healthy cluster's first provider: KMS v2, named `secretkms`.
pub const WRITE_PREFIX: &str = "k8s:enc:kms:v2:secretkms:";
/// The sources a fully observed state reports.
pub const SOURCES: [&str; 5] = ["declared", "kms", "apiserver", "plugin", "rewrite"];

/// An Enabled `Aliyun_AES_256` key for `ENCRYPT/DECRYPT` with nothing else known.
pub fn enabled_key(key_id: impl Into<String>) -> KeyFacts {
    KeyFacts {
        key_id: key_id.into(),
        state: KeyState::Enabled,
        state_name: "Enabled".into(),
        spec: defaults::KEY_SPEC.into(),
        usage: "ENCRYPT/DECRYPT".into(),
        ..KeyFacts::default()
    }
}

/// Freshness entry of source `name`: answered `age_seconds` ago, no error.
pub fn fresh_source(name: &str, age_seconds: u64) -> SourceStatus {
    SourceStatus {
        name: name.into(),
        age_seconds: Some(age_seconds),
        last_error: None,
    }
}

/// The healthy state described at the top of this module.
pub fn healthy() -> EncryptionState {
    EncryptionState {
        declared: Some(Declared {
            region: Some(REGION.into()),
            exempt_namespaces: vec!["kube-system".into()],
            ..Declared::for_key(KEY_ALIAS)
        }),
        key: Some(KeyFacts {
            arn: Some(KEY_ARN.into()),
            region: Some(REGION.into()),
            primary_key_version: Some(KEY_VERSION.into()),
            deletion_protection: Some(true),
            automatic_rotation: Some(true),
            rotation_interval: Some("31536000s".into()),
            last_rotation_date: Some("2026-04-01T00:00:00Z".into()),
            next_rotation_date: Some("2027-04-01T00:00:00Z".into()),
            requested: KEY_ALIAS.into(),
            ..enabled_key(KEY_ID)
        }),
        apiserver: Some(ApiserverFacts {
            secret_writers: vec![SecretWriter {
                apiserver: String::new(),
                prefix: WRITE_PREFIX.into(),
            }],
            ..ApiserverFacts::from_checks(vec![KmsCheck {
                name: "kms-providers".into(),
                healthy: true,
                detail: "ok".into(),
            }])
        }),
        plugin: Some(PluginFacts {
            healthz: "ok".into(),
            key_id: format!("{KEY_ID}/{KEY_VERSION}"),
            version: "v2".into(),
        }),
        rewrite: Some(RewriteFacts {
            target: "20260401-000000".into(),
            total: 1200,
            done: 1200,
        }),
        sources: SOURCES.iter().map(|name| fresh_source(name, 12)).collect(),
        now: NOW,
    }
}
