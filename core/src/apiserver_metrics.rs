//! What the apiserver's own `/metrics` say about Secret encryption: which provider writes
//! Secrets, and which KMS key_id each apiserver uses.
//!
//! A healthy KMS check says nothing about provider order: `TransformToStorage` always uses the
//! first provider and records `apiserver_storage_transformation_operations_total{resource,
//! transformation_type="to_storage", transformer_prefix, status}` with that provider's stored
//! prefix, the empty string for `identity` (`k8s.io/apiserver/pkg/storage/value/transformer.go`,
//! `metrics.go`). KMS v2 also records `apiserver_envelope_encryption_key_id_hash_*{key_id_hash,
//! apiserver_id_hash, ...}` (`.../envelope/metrics/metrics.go`), hashes being `sha256:<hex>` of
//! the plain value, so a known key_id can be matched without the apiserver ever printing it.
//! Counters are per apiserver process; `apiserver_id_hash` tells apiservers apart behind one
//! load balancer.

use sha2::{Digest, Sha256};

const TRANSFORMATIONS: &str = "apiserver_storage_transformation_operations_total";
const KEY_ID_HASH_TOTAL: &str = "apiserver_envelope_encryption_key_id_hash_total";
const KEY_ID_HASH_STATUS: &str =
    "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds";

/// One sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The samples of the families `wanted` accepts (by metric name), in text order. Malformed
/// lines are skipped: one odd line from a newer apiserver must not hide the rest.
pub fn parse(text: &str, wanted: impl Fn(&str) -> bool) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let name_end = l.find(['{', ' '])?;
            let name = &l[..name_end];
            if !wanted(name) {
                return None;
            }
            parse_sample(name, &l[name_end..])
        })
        .collect()
}

fn parse_sample(name: &str, rest: &str) -> Option<Sample> {
    let mut labels = Vec::new();
    let mut rest = rest;
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices();
        let mut key = String::new();
        let close = loop {
            let (i, c) = chars.next()?;
            match c {
                '}' => break i,
                ',' | ' ' => {}
                '=' => {
                    if chars.next()?.1 != '"' {
                        return None;
                    }
                    let mut value = String::new();
                    loop {
                        match chars.next()?.1 {
                            '"' => break,
                            '\\' => value.push(match chars.next()?.1 {
                                'n' => '\n',
                                other => other,
                            }),
                            other => value.push(other),
                        }
                    }
                    labels.push((std::mem::take(&mut key), value));
                }
                other => key.push(other),
            }
        };
        rest = &body[close + 1..];
    }
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// `sha256:<hex>` of `value`, as the apiserver labels key ids and its own id (`getHash`);
/// empty for an empty value.
pub fn id_hash(value: &str) -> String {
    if value.is_empty() {
        return String::new();
    }
    let digest = Sha256::digest(value.as_bytes());
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Successful Secret writes per provider's stored prefix (`""` is identity: plaintext), as one
/// apiserver counted them since it started. Local-key providers nest a second prefix
/// transformer per key (`k8s:enc:aescbc:v1:`, then `key1:`) and each level counts the write;
/// only the outer level says which provider wrote, so inner ones are left out.
pub fn secret_writes_by_prefix(samples: &[Sample]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for s in samples.iter().filter(|s| {
        s.name == TRANSFORMATIONS
            && s.label("resource") == Some("secrets")
            && s.label("transformation_type") == Some("to_storage")
            && s.label("status") == Some("OK")
    }) {
        let prefix = s
            .label("transformer_prefix")
            .unwrap_or_default()
            .to_string();
        if !prefix.is_empty() && !prefix.starts_with(secretkms_model::SecretWriter::PROVIDER_PREFIX)
        {
            continue;
        }
        let n = s.value as u64;
        match out.iter_mut().find(|(p, _)| *p == prefix) {
            Some((_, total)) => *total += n,
            None => out.push((prefix, n)),
        }
    }
    out
}

/// The prefixes whose Secret-write count grew between two readings of the same apiserver: the
/// provider that wrote in between. A canary write between the readings makes this current.
pub fn prefixes_written_between(before: &[(String, u64)], after: &[(String, u64)]) -> Vec<String> {
    after
        .iter()
        .filter(|(p, n)| {
            let was = before.iter().find(|(q, _)| q == p).map_or(0, |(_, m)| *m);
            *n > was
        })
        .map(|(p, _)| p.clone())
        .collect()
}

/// The families this module reads, for [`parse`].
pub fn is_encryption_metric(name: &str) -> bool {
    name == TRANSFORMATIONS || name == KEY_ID_HASH_TOTAL || name == KEY_ID_HASH_STATUS
}

/// One apiserver's use of a KMS v2 key_id, from the key_id_hash metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyIdUse {
    pub apiserver_id_hash: String,
    pub provider_name: String,
    pub key_id_hash: String,
    /// Unix seconds the apiserver last saw this key_id in a Status answer (None: only seen in
    /// transformations).
    pub status_last_seen: Option<f64>,
    /// Writes (`to_storage`) this apiserver made under this key_id since it started.
    pub writes: u64,
}

/// Every (apiserver, provider, key_id) the envelope metrics mention.
pub fn key_id_uses(samples: &[Sample]) -> Vec<KeyIdUse> {
    let mut out: Vec<KeyIdUse> = Vec::new();
    for s in samples {
        let (Some(api), Some(provider), Some(key)) = (
            s.label("apiserver_id_hash"),
            s.label("provider_name"),
            s.label("key_id_hash"),
        ) else {
            continue;
        };
        let slot = match out.iter().position(|u| {
            u.apiserver_id_hash == api && u.provider_name == provider && u.key_id_hash == key
        }) {
            Some(i) => &mut out[i],
            None => {
                out.push(KeyIdUse {
                    apiserver_id_hash: api.into(),
                    provider_name: provider.into(),
                    key_id_hash: key.into(),
                    status_last_seen: None,
                    writes: 0,
                });
                out.last_mut().expect("just pushed")
            }
        };
        if s.name == KEY_ID_HASH_STATUS {
            slot.status_last_seen = Some(s.value);
        } else if s.name == KEY_ID_HASH_TOTAL
            && s.label("transformation_type") == Some("to_storage")
        {
            slot.writes += s.value as u64;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines as a 1.36 apiserver writes them (HELP/TYPE lines kept, label order as emitted).
    const METRICS: &str = r#"# HELP apiserver_storage_transformation_operations_total [ALPHA] Total number of transformations.
# TYPE apiserver_storage_transformation_operations_total counter
apiserver_storage_transformation_operations_total{resource="configmaps",status="OK",transformation_type="to_storage",transformer_prefix=""} 7
apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="from_storage",transformer_prefix="k8s:enc:kms:v2:secretkms:"} 3
apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="to_storage",transformer_prefix=""} 2
apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="to_storage",transformer_prefix="k8s:enc:kms:v2:secretkms:"} 40
apiserver_storage_transformation_operations_total{resource="secrets",status="Internal",transformation_type="to_storage",transformer_prefix="k8s:enc:kms:v2:secretkms:"} 1
apiserver_envelope_encryption_key_id_hash_total{apiserver_id_hash="sha256:aa",key_id_hash="sha256:k1",provider_name="secretkms",transformation_type="to_storage"} 40
apiserver_envelope_encryption_key_id_hash_total{apiserver_id_hash="sha256:aa",key_id_hash="sha256:k1",provider_name="secretkms",transformation_type="from_storage"} 3
apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{apiserver_id_hash="sha256:aa",key_id_hash="sha256:k2",provider_name="secretkms"} 1.674865558833728e+09
weird line without value
"#;

    #[test]
    fn secret_writes_are_counted_per_prefix_and_only_when_ok() {
        let samples = parse(METRICS, is_encryption_metric);
        assert_eq!(
            secret_writes_by_prefix(&samples),
            [
                (String::new(), 2),
                ("k8s:enc:kms:v2:secretkms:".to_string(), 40)
            ]
        );
    }

    #[test]
    fn a_local_key_counts_once_under_its_provider_prefix() {
        let text = concat!(
            "apiserver_storage_transformation_operations_total{resource=\"secrets\",status=\"OK\",transformation_type=\"to_storage\",transformer_prefix=\"k8s:enc:aescbc:v1:\"} 4\n",
            "apiserver_storage_transformation_operations_total{resource=\"secrets\",status=\"OK\",transformation_type=\"to_storage\",transformer_prefix=\"key1:\"} 4\n",
        );
        let samples = parse(text, is_encryption_metric);
        assert_eq!(
            secret_writes_by_prefix(&samples),
            [("k8s:enc:aescbc:v1:".to_string(), 4)]
        );
    }

    #[test]
    fn the_prefix_that_grew_is_the_one_that_wrote() {
        let before = vec![(String::new(), 2), ("k8s:enc:kms:v2:p:".into(), 40)];
        let after = vec![(String::new(), 3), ("k8s:enc:kms:v2:p:".into(), 40)];
        assert_eq!(prefixes_written_between(&before, &after), [String::new()]);
        let new_prefix = vec![
            (String::new(), 2),
            ("k8s:enc:kms:v2:p:".into(), 40),
            ("k8s:enc:aescbc:v1:k:".into(), 1),
        ];
        assert_eq!(
            prefixes_written_between(&before, &new_prefix),
            ["k8s:enc:aescbc:v1:k:"]
        );
    }

    #[test]
    fn key_id_uses_join_status_and_writes() {
        let samples = parse(METRICS, is_encryption_metric);
        let uses = key_id_uses(&samples);
        assert_eq!(uses.len(), 2);
        assert_eq!(uses[0].key_id_hash, "sha256:k1");
        assert_eq!(uses[0].writes, 40);
        assert_eq!(uses[0].status_last_seen, None);
        assert_eq!(uses[1].key_id_hash, "sha256:k2");
        assert_eq!(uses[1].status_last_seen, Some(1.674865558833728e9));
    }

    #[test]
    fn escaped_label_values_are_read() {
        let s = parse(r#"m{a="x\"y\\z\n",b="2"} 1"#, |_| true);
        assert_eq!(s[0].label("a"), Some("x\"y\\z\n"));
        assert_eq!(s[0].label("b"), Some("2"));
        assert_eq!(parse("m 5", |_| true)[0].value, 5.0);
        assert!(parse(r#"m{a="unterminated} 1"#, |_| true).is_empty());
    }

    #[test]
    fn hashes_match_the_apiservers() {
        // getHash("") is "" upstream; otherwise sha256 of the plain text.
        assert_eq!(id_hash(""), "");
        assert_eq!(
            id_hash("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
