//! Whether a rewrite can move Secrets to the key's current version in this cluster, decided
//! once for `status`, `rewrite` and the SecretEncryption conditions.
//!
//! What a write does depends on who writes Secrets (field-facts.md §2, §3):
//! - KMS v1: every write calls Encrypt, which wraps with the primary version: a rewrite moves
//!   every Secret, at one KMS call each.
//! - KMS v2: every write derives its DEK from the apiserver's seed, and the apiserver wraps a
//!   new seed only when its plugin's Status key_id changes (`rotateDEKOnKeyIDChange`) or when it
//!   starts. With a key_id per key version a rewrite moves Secrets once every apiserver has
//!   adopted the new key_id; with a constant key_id (Alibaba's public plugin: the CMK id) it
//!   moves nothing until each apiserver restarts after the rotation, and only annotates.
//! - anything else first (identity, aescbc, ...): a rewrite moves Secrets to that provider, not
//!   to a KMS key.
//!
//! The evidence is each apiserver's `/metrics` (one [`ApiserverView`] per `apiserver_id_hash`;
//! a probe through a load balancer may see only some of them, so the count seen is reported),
//! what is known of the key (its CMK id and primary version from KMS, or the key_id the
//! operator expects) and, with etcd access, the key_ids stored envelopes name in plain text.

use secretkms_model::{ApiserverFacts, EncryptionState, KeyFacts, KeyIdReport};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::apiserver_metrics::{KeyIdUse, Sample, id_hash, key_id_uses, secret_writes_by_prefix};

/// The Go process collector's start time, the only clue to whether an apiserver restarted.
pub const PROCESS_START: &str = "process_start_time_seconds";
/// The annotation Alibaba's public plugin puts the key version in (its key_id is the CMK id).
pub const ACK_KEY_VERSION_ANNOTATION: &str = "x-acs-kms-key-version-id.ack.alibabacloud.com";
/// Our plugin's key version annotation (its key_id already names the version).
pub const KEY_VERSION_ANNOTATION: &str = "key-version.kms.secretkms.io";

/// What one apiserver's `/metrics` say; several scrapes of the same one are merged by
/// [`ApiserverView::merge`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiserverView {
    /// Empty when the scrape carries no `apiserver_id_hash` label (no KMS v2 provider).
    pub apiserver_id_hash: String,
    /// Unix seconds.
    pub started_at: Option<f64>,
    /// Successful Secret writes per stored prefix since the process started.
    pub secret_writes: Vec<(String, u64)>,
    pub key_ids: Vec<KeyIdUse>,
}

impl ApiserverView {
    /// The view of the apiserver that answered one scrape.
    pub fn from_samples(samples: &[Sample]) -> Self {
        let key_ids = key_id_uses(samples);
        Self {
            apiserver_id_hash: key_ids
                .first()
                .map(|u| u.apiserver_id_hash.clone())
                .unwrap_or_default(),
            started_at: samples
                .iter()
                .find(|s| s.name == PROCESS_START)
                .map(|s| s.value),
            secret_writes: secret_writes_by_prefix(samples),
            key_ids,
        }
    }

    /// The families [`ApiserverView::from_samples`] reads, for `apiserver_metrics::parse`.
    pub fn wants(name: &str) -> bool {
        name == PROCESS_START || crate::apiserver_metrics::is_encryption_metric(name)
    }

    /// Folds scrapes into one view per apiserver process (the later scrape of one wins). A
    /// process is its `apiserver_id_hash` and its start time: the id is derived from the host
    /// name, so apiservers sharing a host share it, while two processes do not share a start.
    pub fn merge(scrapes: Vec<ApiserverView>) -> Vec<ApiserverView> {
        let mut out: Vec<ApiserverView> = Vec::new();
        for view in scrapes {
            match out.iter_mut().find(|v| {
                v.apiserver_id_hash == view.apiserver_id_hash && v.started_at == view.started_at
            }) {
                Some(slot) => *slot = view,
                None => out.push(view),
            }
        }
        out
    }

    /// The key_id each of this apiserver's KMS v2 providers reported last, as state facts.
    pub fn key_id_reports(&self) -> Vec<KeyIdReport> {
        let mut providers: Vec<&str> = self
            .key_ids
            .iter()
            .map(|u| u.provider_name.as_str())
            .collect();
        providers.sort_unstable();
        providers.dedup();
        providers
            .into_iter()
            .filter_map(|provider| {
                Some(KeyIdReport {
                    apiserver: self.apiserver_id_hash.clone(),
                    provider: provider.to_string(),
                    key_id_hash: self.current_key_id(provider)?.to_string(),
                    started_at: self.started_at.map(|s| s as i64),
                })
            })
            .collect()
    }

    /// The views the state's apiserver facts describe (the webhook's readings, kept per
    /// apiserver): each writer counts as one write under its prefix, each key_id report as the
    /// key_id last seen in Status.
    pub fn from_facts(facts: &ApiserverFacts) -> Vec<ApiserverView> {
        let mut out: Vec<ApiserverView> = Vec::new();
        let mut slot = |apiserver: &str| -> usize {
            match out.iter().position(|v| v.apiserver_id_hash == apiserver) {
                Some(i) => i,
                None => {
                    out.push(ApiserverView {
                        apiserver_id_hash: apiserver.to_string(),
                        ..Default::default()
                    });
                    out.len() - 1
                }
            }
        };
        let mut writes = Vec::new();
        for w in &facts.secret_writers {
            writes.push((slot(&w.apiserver), w.prefix.clone()));
        }
        let mut keys = Vec::new();
        for r in &facts.key_ids {
            keys.push((slot(&r.apiserver), r));
        }
        for (i, prefix) in writes {
            out[i].secret_writes.push((prefix, 1));
        }
        for (i, r) in keys {
            out[i].started_at = r.started_at.map(|s| s as f64);
            out[i].key_ids.push(KeyIdUse {
                apiserver_id_hash: r.apiserver.clone(),
                provider_name: r.provider.clone(),
                key_id_hash: r.key_id_hash.clone(),
                status_last_seen: Some(0.0),
                writes: 0,
            });
        }
        out
    }

    /// The key_id hash this apiserver's plugin reported most recently for `provider`.
    fn current_key_id(&self, provider: &str) -> Option<&str> {
        self.key_ids
            .iter()
            .filter(|u| u.provider_name == provider)
            .filter_map(|u| u.status_last_seen.map(|t| (t, u.key_id_hash.as_str())))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, h)| h)
    }
}

/// What is known of the key a rewrite should move Secrets to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyKnowledge {
    /// The CMK id (KMS `KeyId`), from DescribeKey.
    pub cmk_id: Option<String>,
    /// Its primary version id, from DescribeKey.
    pub primary_version: Option<String>,
    /// The key_id the operator says the plugin now reports (`--expect-key-id`); overrides the
    /// per-version guess `<CMK id>/<primary version>`.
    pub expect_key_id: Option<String>,
    /// When the key last rotated, unix seconds.
    pub rotated_at: Option<f64>,
    /// Key_ids stored envelopes name, with the key version annotation they carry (etcd).
    pub stored: Vec<StoredKeyId>,
}

impl KeyKnowledge {
    /// What KMS's facts tell: the CMK, its primary version and its last rotation.
    pub fn from_facts(facts: &KeyFacts) -> Self {
        Self {
            cmk_id: Some(facts.key_id.clone()).filter(|k| !k.is_empty()),
            primary_version: facts.primary_key_version.clone(),
            rotated_at: facts
                .last_rotation_date
                .as_deref()
                .and_then(|d| OffsetDateTime::parse(d.trim(), &Rfc3339).ok())
                .map(|t| t.unix_timestamp() as f64),
            ..Self::default()
        }
    }
}

/// One key_id as a stored KMS v2 envelope names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKeyId {
    pub key_id: String,
    /// The version annotation (Alibaba's or ours), if any.
    pub key_version: Option<String>,
}

impl StoredKeyId {
    /// A key_id that does not contain the version that wrapped its seed stays the same across
    /// rotations: Alibaba's plugin names the CMK and puts the version only in an annotation.
    fn is_constant(&self) -> bool {
        self.key_version
            .as_deref()
            .is_some_and(|v| !v.is_empty() && !self.key_id.contains(v))
    }
}

/// How one apiserver stands with the key_id a rewrite needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiserverKeyId {
    pub apiserver_id_hash: String,
    /// The key_id hash its plugin reported last (empty: none yet).
    pub key_id_hash: String,
    /// Whether that is the current version's key_id (per-version), or whether the apiserver
    /// started after the rotation (constant).
    pub current: bool,
}

/// Which KMS API writes Secrets, and so what a rewrite does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "layout", rename_all = "camelCase")]
pub enum Reach {
    /// KMS v1 writes: every write is one Encrypt with the primary version.
    #[serde(rename = "kmsV1")]
    KmsV1 { provider: String },
    /// KMS v2 with a key_id per key version.
    #[serde(rename = "kmsV2PerVersion", rename_all = "camelCase")]
    KmsV2PerVersion {
        provider: String,
        expected_key_id_hash: String,
        apiservers: Vec<ApiserverKeyId>,
    },
    /// KMS v2 with a key_id that stays the same across rotations.
    #[serde(rename = "kmsV2Constant", rename_all = "camelCase")]
    KmsV2Constant {
        provider: String,
        key_id_hash: String,
        apiservers: Vec<ApiserverKeyId>,
    },
    /// KMS v2, but which key_id is current cannot be told.
    #[serde(rename = "kmsV2Unknown", rename_all = "camelCase")]
    KmsV2Unknown {
        provider: String,
        apiservers: Vec<ApiserverKeyId>,
        why: String,
    },
    /// A provider other than KMS writes Secrets (`""` is identity: plaintext).
    #[serde(rename = "notKms")]
    NotKms { prefix: String },
    /// Nothing tells who writes Secrets.
    #[serde(rename = "unknown")]
    Unknown { why: String },
}

/// Whether a rewrite started now moves Secrets to the current key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Moves {
    Yes,
    /// Not yet: some apiserver still writes under the old key_id.
    NotYet,
    /// No: a rewrite only annotates.
    No,
    Unknown,
}

/// What "rewritten" means for a Secret carrying the rotation annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Rewritten {
    /// Re-wrapped by the current key version.
    Rewrapped,
    /// Annotated, its seed still wrapped by an older version.
    AnnotatedOnly,
    /// Annotated; whether re-wrapped cannot be known here.
    Unknown,
}

/// Decides from the apiservers seen and what is known of the key.
pub fn decide(apiservers: &[ApiserverView], key: &KeyKnowledge) -> Reach {
    if apiservers.is_empty() {
        return Reach::Unknown {
            why: "no apiserver metrics were read".into(),
        };
    }
    let mut writers: Vec<&str> = apiservers
        .iter()
        .flat_map(|a| a.secret_writes.iter())
        .filter(|(_, n)| *n > 0)
        .map(|(p, _)| p.as_str())
        .collect();
    writers.sort_unstable();
    writers.dedup();
    let v2_from_status = || {
        apiservers
            .iter()
            .flat_map(|a| a.key_ids.iter())
            .find(|u| u.status_last_seen.is_some())
            .map(|u| u.provider_name.clone())
    };
    let writer = match writers.as_slice() {
        [one] => (*one).to_string(),
        [] => match v2_from_status() {
            // No Secret written since start, but a KMS v2 plugin answers Status.
            Some(provider) => format!("k8s:enc:kms:v2:{provider}:"),
            None => {
                return Reach::Unknown {
                    why: "no apiserver seen has written a Secret since it started".into(),
                };
            }
        },
        several => {
            return Reach::Unknown {
                why: format!(
                    "Secrets were written under several providers since the apiservers started: {}",
                    several
                        .iter()
                        .map(|p| if p.is_empty() { "identity" } else { p })
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
    };
    let name = |rest: &str| rest.trim_end_matches(':').to_string();
    if let Some(rest) = writer.strip_prefix("k8s:enc:kms:v1:") {
        return Reach::KmsV1 {
            provider: name(rest),
        };
    }
    let Some(rest) = writer.strip_prefix("k8s:enc:kms:v2:") else {
        return Reach::NotKms { prefix: writer };
    };
    kms_v2(name(rest), apiservers, key)
}

fn kms_v2(provider: String, apiservers: &[ApiserverView], key: &KeyKnowledge) -> Reach {
    let current: Vec<(&ApiserverView, &str)> = apiservers
        .iter()
        .map(|a| (a, a.current_key_id(&provider).unwrap_or_default()))
        .collect();
    let constant_hash = |h: &str| {
        !h.is_empty()
            && (key.cmk_id.as_deref().is_some_and(|c| id_hash(c) == h)
                || key
                    .stored
                    .iter()
                    .any(|s| s.is_constant() && id_hash(&s.key_id) == h))
    };
    if let Some((_, hash)) = current.iter().find(|(_, h)| constant_hash(h)) {
        let rotated_at = key.rotated_at;
        return Reach::KmsV2Constant {
            provider,
            key_id_hash: hash.to_string(),
            apiservers: current
                .iter()
                .map(|(a, h)| ApiserverKeyId {
                    apiserver_id_hash: a.apiserver_id_hash.clone(),
                    key_id_hash: h.to_string(),
                    current: matches!((a.started_at, rotated_at), (Some(s), Some(r)) if s > r),
                })
                .collect(),
        };
    }
    let expected = key.expect_key_id.clone().or_else(|| {
        key.cmk_id
            .as_ref()
            .zip(key.primary_version.as_ref())
            .map(|(c, v)| format!("{c}/{v}"))
    });
    let seen = |is_current: &dyn Fn(&str) -> bool| -> Vec<ApiserverKeyId> {
        current
            .iter()
            .map(|(a, h)| ApiserverKeyId {
                apiserver_id_hash: a.apiserver_id_hash.clone(),
                key_id_hash: h.to_string(),
                current: is_current(h),
            })
            .collect()
    };
    match expected {
        Some(expected) => {
            let want = id_hash(&expected);
            Reach::KmsV2PerVersion {
                provider,
                apiservers: seen(&|h| h == want),
                expected_key_id_hash: want,
            }
        }
        None => Reach::KmsV2Unknown {
            provider,
            apiservers: seen(&|_| false),
            why: "the current key_id is unknown: give KMS access (--key, credentials) or --expect-key-id"
                .into(),
        },
    }
}

/// The reach the state's facts tell (the webhook's view, for the SecretEncryption conditions):
/// `None` while the apiserver's facts carry no writer and no key_id.
pub fn from_state(state: &EncryptionState) -> Option<Reach> {
    let facts = state.apiserver.as_ref()?;
    let views = ApiserverView::from_facts(facts);
    if views.is_empty() {
        return None;
    }
    let key = state
        .key
        .as_ref()
        .filter(|k| k.is_of_declared(state.declared.as_ref()))
        .map(KeyKnowledge::from_facts)
        .unwrap_or_default();
    Some(decide(&views, &key))
}

impl Reach {
    /// Whether a rewrite started now moves Secrets to the current key version.
    pub fn moves(&self) -> Moves {
        match self {
            Self::KmsV1 { .. } => Moves::Yes,
            Self::KmsV2PerVersion { apiservers, .. } => {
                if !apiservers.is_empty() && apiservers.iter().all(|a| a.current) {
                    Moves::Yes
                } else {
                    Moves::NotYet
                }
            }
            Self::KmsV2Constant { apiservers, .. } => {
                if apiservers.iter().all(|a| a.current) {
                    Moves::Yes
                } else {
                    Moves::No
                }
            }
            Self::KmsV2Unknown { .. } | Self::NotKms { .. } | Self::Unknown { .. } => {
                Moves::Unknown
            }
        }
    }

    /// What a Secret carrying the rotation annotation has had done to it.
    pub fn rewritten(&self) -> Rewritten {
        match (self, self.moves()) {
            (Self::KmsV1 { .. }, _) => Rewritten::Rewrapped,
            (Self::KmsV2PerVersion { .. }, Moves::Yes) => Rewritten::Rewrapped,
            // Annotated before or after the restarts: the annotation cannot tell.
            (Self::KmsV2Constant { .. }, Moves::No) => Rewritten::AnnotatedOnly,
            _ => Rewritten::Unknown,
        }
    }

    /// KMS calls per written Secret, where known.
    pub fn kms_calls_per_write(&self) -> Option<u64> {
        match self {
            Self::KmsV1 { .. } => Some(1),
            Self::KmsV2PerVersion { .. }
            | Self::KmsV2Constant { .. }
            | Self::KmsV2Unknown { .. } => Some(0),
            Self::NotKms { .. } | Self::Unknown { .. } => None,
        }
    }

    /// The apiservers whose metrics were read (KMS v2 layouts; v1 needs none to agree).
    pub fn apiservers_seen(&self) -> Option<&[ApiserverKeyId]> {
        match self {
            Self::KmsV2PerVersion { apiservers, .. }
            | Self::KmsV2Constant { apiservers, .. }
            | Self::KmsV2Unknown { apiservers, .. } => Some(apiservers),
            _ => None,
        }
    }

    /// One line naming the layout.
    pub fn layout(&self) -> String {
        match self {
            Self::KmsV1 { provider } => format!("KMS v1 (provider {provider})"),
            Self::KmsV2PerVersion { provider, .. } => {
                format!("KMS v2 with a key_id per key version (provider {provider})")
            }
            Self::KmsV2Constant { provider, .. } => {
                format!("KMS v2 with a constant key_id (provider {provider})")
            }
            Self::KmsV2Unknown { provider, .. } => format!("KMS v2 (provider {provider})"),
            Self::NotKms { prefix } if prefix.is_empty() => {
                "identity writes Secrets (plaintext)".into()
            }
            Self::NotKms { prefix } => format!("a non-KMS provider writes Secrets ({prefix})"),
            Self::Unknown { .. } => "unknown".into(),
        }
    }

    /// Why a rewrite does or does not move Secrets, and what does move them, in plain words.
    pub fn explain(&self) -> String {
        let seen = |list: &[ApiserverKeyId]| {
            let n = list.len();
            let current = list.iter().filter(|a| a.current).count();
            (n, current)
        };
        match self {
            Self::KmsV1 { .. } => "every write calls KMS Encrypt with the primary version: a rewrite moves every Secret, one Encrypt each".into(),
            Self::KmsV2PerVersion { apiservers, expected_key_id_hash, .. } => {
                let (n, current) = seen(apiservers);
                let plural = if n == 1 { "" } else { "s" };
                if self.moves() == Moves::Yes {
                    format!("{n} apiserver{plural} seen, all report the current key_id ({expected_key_id_hash}): a rewrite re-wraps every Secret with the current key version")
                } else {
                    format!("{n} apiserver{plural} seen, {current} report the current key_id ({expected_key_id_hash}): Secrets rewritten now may stay on the old key version until every apiserver has adopted it")
                }
            }
            Self::KmsV2Constant { apiservers, .. } => {
                let (n, current) = seen(apiservers);
                let plural = if n == 1 { "" } else { "s" };
                if self.moves() == Moves::Yes {
                    format!("the plugin's key_id stays the same across rotations, but all {n} apiserver{plural} seen started after the rotation, so each seed is wrapped by the current key version: a rewrite moves every Secret")
                } else {
                    format!("the plugin's key_id stays the same across rotations, and the apiserver wraps a new DEK seed only when the Status key_id changes: a rewrite only annotates Secrets, their seed stays wrapped by the old key version. Restarting an apiserver makes it generate a new seed, which the plugin encrypts with the current primary version; {current} of {n} apiserver{plural} seen started after the rotation")
                }
            }
            Self::KmsV2Unknown { apiservers, why, .. } => {
                format!("{} apiserver(s) seen; {why}", apiservers.len())
            }
            Self::NotKms { .. } => "a rewrite moves Secrets to the provider that writes them, not to a KMS key".into(),
            Self::Unknown { why } => why.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMK: &str = "key-1";

    fn view(apiserver: &str, prefix: &str, key_id: Option<&str>, started: f64) -> ApiserverView {
        ApiserverView {
            apiserver_id_hash: id_hash(apiserver),
            started_at: Some(started),
            secret_writes: vec![(prefix.into(), 3)],
            key_ids: key_id
                .map(|k| KeyIdUse {
                    apiserver_id_hash: id_hash(apiserver),
                    provider_name: "secretkms".into(),
                    key_id_hash: id_hash(k),
                    status_last_seen: Some(100.0),
                    writes: 3,
                })
                .into_iter()
                .collect(),
        }
    }

    const V2: &str = "k8s:enc:kms:v2:secretkms:";

    fn known(primary: &str) -> KeyKnowledge {
        KeyKnowledge {
            cmk_id: Some(CMK.into()),
            primary_version: Some(primary.into()),
            rotated_at: Some(1_000.0),
            ..Default::default()
        }
    }

    #[test]
    fn kms_v1_moves_every_secret_at_one_call_each() {
        let reach = decide(
            &[view("a", "k8s:enc:kms:v1:secretkms-v1:", None, 1.0)],
            &KeyKnowledge::default(),
        );
        assert_eq!(
            reach,
            Reach::KmsV1 {
                provider: "secretkms-v1".into()
            }
        );
        assert_eq!(reach.moves(), Moves::Yes);
        assert_eq!(reach.kms_calls_per_write(), Some(1));
        assert_eq!(reach.rewritten(), Rewritten::Rewrapped);
    }

    #[test]
    fn per_version_moves_only_once_every_apiserver_adopted_the_new_key_id() {
        let apiservers = [
            view("a", V2, Some("key-1/v2"), 1.0),
            view("b", V2, Some("key-1/v1"), 1.0),
        ];
        let reach = decide(&apiservers, &known("v2"));
        assert_eq!(reach.moves(), Moves::NotYet);
        assert_eq!(reach.rewritten(), Rewritten::Unknown);
        assert_eq!(reach.apiservers_seen().unwrap().len(), 2);
        assert!(
            reach.explain().contains("2 apiservers seen, 1 report"),
            "{}",
            reach.explain()
        );
        let both = [
            view("a", V2, Some("key-1/v2"), 1.0),
            view("b", V2, Some("key-1/v2"), 1.0),
        ];
        let reach = decide(&both, &known("v2"));
        assert_eq!(reach.moves(), Moves::Yes);
        assert_eq!(reach.rewritten(), Rewritten::Rewrapped);
        assert_eq!(reach.kms_calls_per_write(), Some(0));
    }

    #[test]
    fn an_expected_key_id_overrides_the_per_version_guess() {
        let apiservers = [view("a", V2, Some("other-scheme-7"), 1.0)];
        let key = KeyKnowledge {
            expect_key_id: Some("other-scheme-7".into()),
            ..known("v2")
        };
        assert_eq!(decide(&apiservers, &key).moves(), Moves::Yes);
    }

    #[test]
    fn a_constant_key_id_only_annotates_until_every_apiserver_restarted() {
        let apiservers = [
            view("a", V2, Some(CMK), 500.0),
            view("b", V2, Some(CMK), 2_000.0),
        ];
        let reach = decide(&apiservers, &known("v2"));
        assert!(matches!(reach, Reach::KmsV2Constant { .. }), "{reach:?}");
        assert_eq!(reach.moves(), Moves::No);
        assert_eq!(reach.rewritten(), Rewritten::AnnotatedOnly);
        let why = reach.explain();
        assert!(why.contains("only when the Status key_id changes"), "{why}");
        assert!(why.contains("Restarting an apiserver"), "{why}");
        assert!(
            why.contains("1 of 2 apiservers seen started after"),
            "{why}"
        );
        let restarted = [
            view("a", V2, Some(CMK), 1_500.0),
            view("b", V2, Some(CMK), 2_000.0),
        ];
        let reach = decide(&restarted, &known("v2"));
        assert_eq!(reach.moves(), Moves::Yes);
        assert_eq!(reach.rewritten(), Rewritten::Unknown);
    }

    #[test]
    fn a_stored_envelope_tells_a_constant_key_id_without_kms_access() {
        let apiservers = [view("a", V2, Some(CMK), 500.0)];
        let key = KeyKnowledge {
            stored: vec![StoredKeyId {
                key_id: CMK.into(),
                key_version: Some("v1".into()),
            }],
            ..Default::default()
        };
        assert!(matches!(
            decide(&apiservers, &key),
            Reach::KmsV2Constant { .. }
        ));
        let per_version = KeyKnowledge {
            stored: vec![StoredKeyId {
                key_id: "key-1/v1".into(),
                key_version: Some("v1".into()),
            }],
            ..Default::default()
        };
        let reach = decide(&[view("a", V2, Some("key-1/v1"), 1.0)], &per_version);
        assert!(matches!(reach, Reach::KmsV2Unknown { .. }), "{reach:?}");
        assert_eq!(reach.rewritten(), Rewritten::Unknown);
    }

    #[test]
    fn other_writers_and_no_evidence_are_named() {
        let reach = decide(&[view("a", "", None, 1.0)], &KeyKnowledge::default());
        assert_eq!(reach.layout(), "identity writes Secrets (plaintext)");
        assert_eq!(reach.kms_calls_per_write(), None);
        assert!(matches!(
            decide(&[], &KeyKnowledge::default()),
            Reach::Unknown { .. }
        ));
        let mixed = [view("a", "", None, 1.0), view("b", V2, None, 1.0)];
        let Reach::Unknown { why } = decide(&mixed, &KeyKnowledge::default()) else {
            panic!("mixed writers are not decided")
        };
        assert!(why.contains("identity, k8s:enc:kms:v2:secretkms:"), "{why}");
    }

    #[test]
    fn a_fresh_apiserver_is_read_from_its_status_metric() {
        let mut fresh = view("a", V2, Some("key-1/v2"), 1.0);
        fresh.secret_writes.clear();
        assert_eq!(decide(&[fresh], &known("v2")).moves(), Moves::Yes);
    }

    #[test]
    fn scrapes_merge_per_apiserver_and_read_the_start_time() {
        let text = format!(
            "process_start_time_seconds 1.5e+09\n\
             apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds{{apiserver_id_hash=\"{a}\",key_id_hash=\"{k}\",provider_name=\"secretkms\"}} 1.6e+09\n",
            a = id_hash("a"),
            k = id_hash("key-1/v2")
        );
        let samples = crate::apiserver_metrics::parse(&text, ApiserverView::wants);
        let one = ApiserverView::from_samples(&samples);
        assert_eq!(one.started_at, Some(1.5e9));
        assert_eq!(one.apiserver_id_hash, id_hash("a"));
        let merged = ApiserverView::merge(vec![one.clone(), one.clone(), view("b", V2, None, 1.0)]);
        assert_eq!(merged.len(), 2);
        let same_host = ApiserverView {
            started_at: Some(1.6e9),
            ..one.clone()
        };
        assert_eq!(
            ApiserverView::merge(vec![one, same_host]).len(),
            2,
            "two processes on one host share the id, not the start"
        );
    }
}
