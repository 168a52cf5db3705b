//! When a rewrite may start. A KMS v2 apiserver keeps writing with the old key_id for up to
//! 3 minutes of DEK coasting after its plugin's Status first reports the new one, polls Status
//! about once a minute, and the plugin itself needs N minutes to notice a rotation; upstream
//! says start `3 + N + 5` minutes after the rotation (kms-provider.md). Where `/metrics` is
//! readable, the apiserver's `key_id_hash` gauges answer directly.

use std::time::Duration;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

/// The coasting limit of a write DEK after Status errors or a key_id change.
pub const COASTING: Duration = Duration::from_secs(3 * 60);
/// The safety buffer upstream recommends on top.
pub const BUFFER: Duration = Duration::from_secs(5 * 60);

/// The earliest safe start after a rotation at `rotated`, with the plugin needing `pickup`.
pub fn safe_after(rotated: OffsetDateTime, pickup: Duration) -> OffsetDateTime {
    rotated + COASTING + pickup + BUFFER
}

/// How the apiserver labels a key_id in its metrics: `sha256:` + hex(sha256(key_id)).
pub fn key_id_hash(key_id: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(key_id.as_bytes())))
}

/// Per apiserver (`apiserver_id_hash`), the key_id hash its KMS v2 plugin reported most
/// recently, from `apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds`.
pub fn current_key_id_hashes(metrics: &str) -> Vec<(String, String)> {
    let mut latest: std::collections::BTreeMap<String, (f64, String)> = Default::default();
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix(
            "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{",
        ) else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once('}') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == name).then(|| v.trim().trim_matches('"').to_string())
            })
        };
        let (Some(hash), apiserver) = (label("key_id_hash"), label("apiserver_id_hash")) else {
            continue;
        };
        let entry = latest
            .entry(apiserver.unwrap_or_default())
            .or_insert((f64::MIN, String::new()));
        if value > entry.0 {
            *entry = (value, hash);
        }
    }
    latest.into_iter().map(|(a, (_, h))| (a, h)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_matches_the_apiservers_form() {
        // sha256("abc"), a published test vector.
        assert_eq!(
            key_id_hash("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_most_recent_status_hash_wins_per_apiserver() {
        let metrics = r#"# HELP x
apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{apiserver_id_hash="sha256:a1",key_id_hash="sha256:old",provider_name="kms"} 1.7e+09
apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{apiserver_id_hash="sha256:a1",key_id_hash="sha256:new",provider_name="kms"} 1.7000001e+09
apiserver_envelope_encryption_key_id_hash_total{apiserver_id_hash="sha256:a1",key_id_hash="sha256:zzz"} 5
"#;
        assert_eq!(
            current_key_id_hashes(metrics),
            [("sha256:a1".to_string(), "sha256:new".to_string())]
        );
    }

    #[test]
    fn the_rule_is_three_plus_n_plus_five_minutes() {
        let rotated = time::macros::datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            safe_after(rotated, Duration::from_secs(60)),
            time::macros::datetime!(2026-01-01 00:09 UTC)
        );
    }
}
