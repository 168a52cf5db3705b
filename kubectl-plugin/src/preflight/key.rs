//! The key's part of every checklist: one DescribeKey, the judge's key checks on its facts
//! (`secretkms_core::judgement::key_checks`, the same `status` shows), that it is not a service
//! key, and an Encrypt/Decrypt round trip with the caller's own credentials.

use std::collections::BTreeMap;

use anyhow::Context as _;
use secretkms_alibaba::kms::{KeyMetadata, KmsClient, KmsError};
use secretkms_core::judgement;
use secretkms_core::kms_facts;
use secretkms_model::KeyFacts;

use super::service_key;
use crate::checklist::Check;
use crate::output::Level;

/// What the key checks found.
#[derive(Debug, Clone)]
pub struct KeyChecks {
    pub checks: Vec<Check>,
    pub meta: Option<KeyMetadata>,
    pub facts: Option<KeyFacts>,
}

impl KeyChecks {
    /// Whether the key can be used now: it exists and is Enabled.
    pub fn usable(&self) -> bool {
        self.meta.as_ref().is_some_and(|m| m.key_state == "Enabled")
    }
}

/// Every check of `key`; `Err` only when KMS could not be asked at all.
pub async fn key_checks(
    client: &KmsClient,
    key: &str,
    region: Option<&str>,
    required_key_spec: &str,
    round_trip: bool,
) -> anyhow::Result<KeyChecks> {
    let mut checks = Vec::new();
    let meta = match client.describe_key(key).await {
        Ok(r) => Some(r.key_metadata),
        Err(e @ KmsError::KeyNotFound(_)) => {
            checks.push(Check::fail("exists", e.to_string()).fix(format!(
                "check the id/alias {key} and that the KMS endpoint is the key's region; or create one: aliyun kms CreateKey --KeySpec {required_key_spec} --KeyUsage ENCRYPT/DECRYPT"
            )));
            None
        }
        Err(e @ KmsError::NoPermission(_)) => {
            checks.push(
                Check::fail("exists", e.to_string())
                    .fix("grant kms:DescribeKey on the key to these credentials"),
            );
            None
        }
        Err(e) => return Err(e).with_context(|| format!("cannot describe key {key}")),
    };
    let facts = meta.as_ref().map(kms_facts::from_metadata);
    if let (Some(meta), Some(key_facts)) = (&meta, &facts) {
        checks.extend(
            judgement::key_checks(key_facts, region, required_key_spec)
                .into_iter()
                .map(Check::from),
        );
        checks.push(service_key::check(client, key, meta).await);
        checks.push(if !round_trip {
            Check::info("encrypt-decrypt", "skipped (--no-round-trip)")
        } else if meta.key_state != "Enabled" {
            Check::info(
                "encrypt-decrypt",
                format!("skipped: the key is {}", meta.key_state),
            )
        } else {
            round_trip_check(client, &meta.key_id).await
        });
    }
    Ok(KeyChecks {
        checks,
        meta,
        facts,
    })
}

/// Encrypt then Decrypt a probe with these credentials, as the apiserver's KMS plugin will.
async fn round_trip_check(client: &KmsClient, key_id: &str) -> Check {
    const PROBE: &[u8] = b"secretkms key check";
    let context = BTreeMap::from([("secretkms".to_string(), "key-check".to_string())]);
    let failed = |what: &str, e: &KmsError| {
        let check = Check::fail("encrypt-decrypt", format!("{what}: {e}"));
        match e {
            KmsError::NoPermission(_) => check.fix(
                "grant kms:Encrypt and kms:Decrypt on the key (e.g. the AliyunKMSCryptoAdminAccess policy)",
            ),
            _ => check,
        }
    };
    let encrypted = match client.encrypt(key_id, PROBE, Some(&context)).await {
        Ok(r) => r,
        Err(e) => return failed("Encrypt", &e),
    };
    match client
        .decrypt(&encrypted.ciphertext_blob, Some(&context))
        .await
    {
        Ok(d) if d.plaintext.0 == PROBE => Check::new(
            "encrypt-decrypt",
            Level::Pass,
            format!("round trip with version {}", encrypted.key_version_id),
        ),
        Ok(_) => Check::fail(
            "encrypt-decrypt",
            "Decrypt returned different bytes than were encrypted",
        ),
        Err(e) => failed("Decrypt", &e),
    }
}
