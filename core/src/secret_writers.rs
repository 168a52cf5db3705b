//! Which provider an apiserver writes Secrets with, from its own `/metrics`.
//!
//! A healthy KMS check says nothing about provider order: the apiserver encrypts every write
//! with the first provider of the `secrets` resource, and counts each write under that
//! provider's stored prefix ([`crate::apiserver_metrics`]). The counters run since the process
//! started, so the totals tell what was first at some time, not now; what grew between two
//! readings of the same apiserver is what writes now. A write made just before a reading (the
//! webhook's canary) makes sure something grows on an idle cluster.
//!
//! Readings are told apart by the `apiserver_id_hash` the KMS v2 metrics carry. Without one
//! (KMS v1, identity or aescbc only), readings through a load balancer that lands on different
//! apiservers cannot be told apart; a counter that shrinks shows it (or a restart), and such a
//! pair of readings is not compared.

use std::collections::BTreeMap;

use kube::Client;
use secretkms_model::{KeyIdReport, SecretWriter};

use crate::apiserver_metrics::{self, Sample};
use crate::rotation_reach::ApiserverView;

/// The apiserver's metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// Where a canary Secret lives, `namespace/name`: written just before a reading so that an idle
/// apiserver's counters grow (the webhook each round, `kubectl secretkms verify` once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanarySecret {
    pub namespace: String,
    pub name: String,
}

impl std::str::FromStr for CanarySecret {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self {
                    namespace: ns.into(),
                    name: name.into(),
                })
            }
            _ => Err(format!("expected <namespace>/<name>, got {s:?}")),
        }
    }
}

impl std::fmt::Display for CanarySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One reading of one apiserver's Secret-write counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    /// The `apiserver_id_hash` the reading carries, if exactly one; empty otherwise.
    pub apiserver: String,
    /// Successful Secret writes per stored prefix since that apiserver started.
    pub writes: Vec<(String, u64)>,
    /// The KMS v2 key_id per provider that apiserver's plugin reported last.
    pub key_ids: Vec<KeyIdReport>,
}

impl Reading {
    pub fn parse(text: &str) -> Self {
        let samples = apiserver_metrics::parse(text, ApiserverView::wants);
        Self {
            apiserver: apiserver_id(&samples),
            writes: apiserver_metrics::secret_writes_by_prefix(&samples),
            key_ids: ApiserverView::from_samples(&samples).key_id_reports(),
        }
    }
}

impl Reading {
    /// For a one-shot reader (`kubectl secretkms status`, which never writes): the provider
    /// that wrote Secrets when it is the only one this apiserver ever wrote them with since it
    /// started. Several prefixes mean the configuration changed since, and one reading cannot
    /// tell which is first now: `None`.
    pub fn sole_writer(&self) -> Option<SecretWriter> {
        let mut wrote = self.writes.iter().filter(|(_, n)| *n > 0);
        match (wrote.next(), wrote.next()) {
            (Some((prefix, _)), None) => Some(SecretWriter {
                apiserver: self.apiserver.clone(),
                prefix: prefix.clone(),
            }),
            _ => None,
        }
    }
}

fn apiserver_id(samples: &[Sample]) -> String {
    let mut ids: Vec<&str> = samples
        .iter()
        .filter_map(|s| s.label("apiserver_id_hash"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    match ids.as_slice() {
        [one] => (*one).to_string(),
        _ => String::new(),
    }
}

/// Reads the apiserver's metrics once. `Err` says why they could not be read.
pub async fn read(client: &Client) -> Result<Reading, String> {
    let req = http::Request::get(METRICS_PATH)
        .body(Vec::new())
        .expect("a static request is valid");
    match client.request_text(req).await {
        Ok(text) => Ok(Reading::parse(&text)),
        Err(kube::Error::Api(status)) if matches!(status.code, 401 | 403) => Err(format!(
            "the apiserver refused {METRICS_PATH} ({}): grant `get` on the non-resource URL \
             {METRICS_PATH} to the caller's identity",
            status.code
        )),
        Err(e) => Err(format!("{METRICS_PATH} could not be read: {e}")),
    }
}

/// The writers learnt so far, per apiserver, from consecutive readings, and the key_ids each
/// apiserver reported last (one reading tells those; through a load balancer each reading may
/// come from another apiserver, so they are kept per apiserver too).
#[derive(Debug, Default, Clone)]
pub struct WriterTracker {
    last: BTreeMap<String, Vec<(String, u64)>>,
    writers: BTreeMap<String, Vec<String>>,
    key_ids: BTreeMap<String, Vec<KeyIdReport>>,
}

impl WriterTracker {
    /// Compares `reading` with the last one of the same apiserver. Prefixes that grew are what
    /// that apiserver writes now (several only when its configuration changed in between:
    /// all are reported, so a non-KMS one is never hidden). Nothing grew: the last answer
    /// stands. A counter that shrank: another process answered; it becomes the new baseline.
    pub fn observe(&mut self, reading: Reading) {
        let Reading {
            apiserver,
            writes,
            key_ids,
        } = reading;
        if !key_ids.is_empty() {
            self.key_ids.insert(apiserver.clone(), key_ids);
        }
        if let Some(before) = self.last.get(&apiserver)
            && !shrank(before, &writes)
        {
            let grew = apiserver_metrics::prefixes_written_between(before, &writes);
            if !grew.is_empty() {
                self.writers.insert(apiserver.clone(), grew);
            }
        }
        self.last.insert(apiserver, writes);
    }

    /// What each apiserver writes Secrets with, as far as known; empty while nothing is known.
    pub fn writers(&self) -> Vec<SecretWriter> {
        self.writers
            .iter()
            .flat_map(|(apiserver, prefixes)| {
                prefixes.iter().map(|prefix| SecretWriter {
                    apiserver: apiserver.clone(),
                    prefix: prefix.clone(),
                })
            })
            .collect()
    }

    /// The KMS v2 key_id each apiserver seen reported last.
    pub fn key_ids(&self) -> Vec<KeyIdReport> {
        self.key_ids.values().flatten().cloned().collect()
    }
}

fn shrank(before: &[(String, u64)], after: &[(String, u64)]) -> bool {
    before.iter().any(|(prefix, n)| {
        after
            .iter()
            .find(|(p, _)| p == prefix)
            .is_none_or(|(_, m)| m < n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KMS: &str = "k8s:enc:kms:v2:secretkms:";

    fn metrics(id: Option<&str>, writes: &[(&str, u64)]) -> String {
        let mut text =
            String::from("# TYPE apiserver_storage_transformation_operations_total counter\n");
        for (prefix, n) in writes {
            text.push_str(&format!(
                "apiserver_storage_transformation_operations_total{{resource=\"secrets\",status=\"OK\",transformation_type=\"to_storage\",transformer_prefix=\"{prefix}\"}} {n}\n"
            ));
        }
        if let Some(id) = id {
            text.push_str(&format!(
                "apiserver_envelope_encryption_key_id_hash_total{{apiserver_id_hash=\"{id}\",key_id_hash=\"sha256:k\",provider_name=\"secretkms\",transformation_type=\"to_storage\"}} 1\n"
            ));
        }
        text
    }

    fn writer(apiserver: &str, prefix: &str) -> SecretWriter {
        SecretWriter {
            apiserver: apiserver.into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn a_canary_is_named_by_namespace_and_name() {
        let c: CanarySecret = "secretkms/secretkms-canary".parse().unwrap();
        assert_eq!(
            (c.namespace.as_str(), c.name.as_str()),
            ("secretkms", "secretkms-canary")
        );
        assert_eq!(c.to_string(), "secretkms/secretkms-canary");
        for bad in ["canary", "/x", "ns/", "a/b/c"] {
            assert!(bad.parse::<CanarySecret>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_reading_tells_nothing_and_growth_names_the_writer() {
        let mut t = WriterTracker::default();
        t.observe(Reading::parse(&metrics(None, &[("", 5), (KMS, 40)])));
        assert!(
            t.writers().is_empty(),
            "totals since start say nothing of now"
        );
        t.observe(Reading::parse(&metrics(None, &[("", 6), (KMS, 40)])));
        assert_eq!(t.writers(), [writer("", "")]);
        // Nothing grew: the last answer stands.
        t.observe(Reading::parse(&metrics(None, &[("", 6), (KMS, 40)])));
        assert_eq!(t.writers(), [writer("", "")]);
        t.observe(Reading::parse(&metrics(None, &[("", 6), (KMS, 41)])));
        assert_eq!(t.writers(), [writer("", KMS)]);
    }

    #[test]
    fn apiservers_are_kept_apart_by_their_id_hash() {
        let mut t = WriterTracker::default();
        for (a, b) in [(1, 100), (2, 100)] {
            t.observe(Reading::parse(&metrics(Some("sha256:a"), &[(KMS, a)])));
            t.observe(Reading::parse(&metrics(Some("sha256:b"), &[("", b)])));
        }
        t.observe(Reading::parse(&metrics(Some("sha256:b"), &[("", 101)])));
        assert_eq!(
            t.writers(),
            [writer("sha256:a", KMS), writer("sha256:b", "")]
        );
    }

    #[test]
    fn a_shrinking_counter_is_another_process_and_not_compared() {
        let mut t = WriterTracker::default();
        t.observe(Reading::parse(&metrics(None, &[(KMS, 50)])));
        // Another apiserver behind the same URL (or a restart): fewer writes, one plaintext.
        t.observe(Reading::parse(&metrics(None, &[(KMS, 10), ("", 1)])));
        assert!(t.writers().is_empty());
        t.observe(Reading::parse(&metrics(None, &[(KMS, 10), ("", 2)])));
        assert_eq!(t.writers(), [writer("", "")]);
    }

    #[test]
    fn one_reading_names_a_writer_only_when_it_is_the_only_one_since_start() {
        let only = Reading::parse(&metrics(Some("sha256:a"), &[("", 3)]));
        assert_eq!(only.sole_writer(), Some(writer("sha256:a", "")));
        let both = Reading::parse(&metrics(None, &[("", 3), (KMS, 1)]));
        assert_eq!(both.sole_writer(), None);
        assert_eq!(Reading::parse("").sole_writer(), None);
    }

    #[test]
    fn a_local_key_counts_once_under_its_provider_prefix() {
        let mut t = WriterTracker::default();
        let aescbc = |n| metrics(None, &[("k8s:enc:aescbc:v1:", n), ("key1:", n)]);
        t.observe(Reading::parse(&aescbc(1)));
        t.observe(Reading::parse(&aescbc(2)));
        assert_eq!(t.writers(), [writer("", "k8s:enc:aescbc:v1:")]);
    }

    #[test]
    fn each_apiserver_keeps_the_key_id_it_reported_last() {
        let status = |api: &str, key: &str, at: u64| {
            format!(
                "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{{apiserver_id_hash=\"{api}\",key_id_hash=\"{key}\",provider_name=\"secretkms\"}} {at}\nprocess_start_time_seconds 1700000000.5\n"
            )
        };
        let mut t = WriterTracker::default();
        t.observe(Reading::parse(&status("sha256:a", "sha256:old", 10)));
        t.observe(Reading::parse(&status("sha256:b", "sha256:old", 10)));
        t.observe(Reading::parse(&format!(
            "{}{}",
            status("sha256:a", "sha256:old", 10),
            status("sha256:a", "sha256:new", 20)
        )));
        let reports: Vec<_> = t
            .key_ids()
            .into_iter()
            .map(|r| (r.apiserver, r.key_id_hash, r.started_at))
            .collect();
        assert_eq!(
            reports,
            [
                ("sha256:a".into(), "sha256:new".into(), Some(1_700_000_000)),
                ("sha256:b".into(), "sha256:old".into(), Some(1_700_000_000)),
            ]
        );
    }

    #[test]
    fn a_configuration_change_between_readings_reports_every_prefix_that_wrote() {
        let mut t = WriterTracker::default();
        t.observe(Reading::parse(&metrics(None, &[(KMS, 1)])));
        t.observe(Reading::parse(&metrics(None, &[(KMS, 2), ("", 1)])));
        let prefixes: Vec<_> = t.writers().into_iter().map(|w| w.prefix).collect();
        assert_eq!(prefixes.len(), 2);
        assert!(prefixes.contains(&String::new()));
    }
}
