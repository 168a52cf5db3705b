//! A canary Secret written now, and which provider wrote it: the apiserver's Secret-write
//! counters read before and after the write (`secretkms_core::secret_writers`: what grew is
//! what writes now), and with `--etcd-*` the canary's stored prefix itself, the direct proof.
//! The canary lives in a namespace the guard never guards (kube-system by default), holds no
//! data, and is created when missing.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use secretkms_core::apiserver_metrics;
use secretkms_core::secret_writers::{self, CanarySecret, Reading};
use secretkms_model::SecretWriter;
use serde::Serialize;

use crate::causes::folded;
use crate::checklist::Check;
use crate::status::EtcdArgs;

const NAME: &str = "canary";
/// The annotation each write bumps.
pub const ANNOTATION: &str = "secretkms.io/verify-written";
/// Attempts at a before/after pair from the same apiserver (a load balancer may switch).
const ATTEMPTS: usize = 3;

/// Which provider wrote the canary, and how that is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryWrite {
    pub namespace: String,
    pub name: String,
    /// The stored prefixes that grew with the write (`k8s:enc:kms:v2:<name>:`, `""` identity).
    pub prefixes: Vec<String>,
    /// `metrics` or `etcd`.
    pub via: &'static str,
}

impl CanaryWrite {
    pub fn is_kms(&self) -> bool {
        !self.prefixes.is_empty() && self.prefixes.iter().all(|p| writer(p).is_kms())
    }

    pub fn providers(&self) -> String {
        self.prefixes
            .iter()
            .map(|p| writer(p).provider())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn writer(prefix: &str) -> SecretWriter {
    SecretWriter {
        apiserver: String::new(),
        prefix: prefix.into(),
    }
}

/// The judgement on a write, given whether KMS should be writing.
pub fn judge(write: &CanaryWrite, expect_kms: bool) -> Check {
    let what = format!(
        "{}/{} written by {} (from {})",
        write.namespace,
        write.name,
        write.providers(),
        write.via
    );
    match (
        expect_kms,
        write.is_kms(),
        write.prefixes.iter().any(|p| writer(p).is_kms()),
    ) {
        (true, true, _) => Check::pass(NAME, what),
        (true, false, _) => Check::fail(
            NAME,
            format!("{what}: new Secrets are not encrypted with KMS"),
        )
        .fix(
            "the apiserver's EncryptionConfiguration must list the KMS provider first for secrets",
        ),
        (false, _, false) => Check::pass(NAME, what),
        (false, _, true) => Check::fail(
            NAME,
            format!("{what}: new Secrets are still written through KMS"),
        )
        .fix("wait for the cluster to apply the change, then run kubectl secretkms verify again"),
    }
}

/// Writes the canary once and tells which provider wrote it.
pub async fn write(
    client: &Client,
    canary: &CanarySecret,
    etcd: &EtcdArgs,
) -> Result<CanaryWrite, String> {
    ensure(client, canary).await?;
    if !etcd.etcd_endpoints.is_empty() {
        stamp(client, canary).await?;
        let prefix = etcd
            .stored_prefix(&canary.namespace, &canary.name)
            .await
            .map_err(|e| format!("{e:#}"))?;
        return Ok(CanaryWrite {
            namespace: canary.namespace.clone(),
            name: canary.name.clone(),
            prefixes: vec![prefix],
            via: "etcd",
        });
    }
    let mut last = String::from("no reading");
    for _ in 0..ATTEMPTS {
        let before = secret_writers::read(client).await?;
        stamp(client, canary).await?;
        let after = secret_writers::read(client).await?;
        match grown(&before, &after) {
            Ok(prefixes) => {
                return Ok(CanaryWrite {
                    namespace: canary.namespace.clone(),
                    name: canary.name.clone(),
                    prefixes,
                    via: "metrics",
                });
            }
            Err(why) => last = why,
        }
    }
    Err(format!(
        "the apiserver's Secret-write counters did not tell: {last}"
    ))
}

/// What grew between two readings of one apiserver.
pub fn grown(before: &Reading, after: &Reading) -> Result<Vec<String>, String> {
    if before.apiserver != after.apiserver {
        return Err("the readings came from different apiservers".into());
    }
    let grew = apiserver_metrics::prefixes_written_between(&before.writes, &after.writes);
    if grew.is_empty() {
        return Err(
            "no Secret-write counter grew (no encryption configuration loaded counts none)".into(),
        );
    }
    Ok(grew)
}

async fn ensure(client: &Client, canary: &CanarySecret) -> Result<(), String> {
    let api = Api::<Secret>::namespaced(client.clone(), &canary.namespace);
    match api.get_metadata_opt(&canary.name).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => {
            let secret: Secret = serde_json::from_value(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": canary.name,
                    "namespace": canary.namespace,
                    "labels": {"app.kubernetes.io/managed-by": "kubectl-secretkms"},
                },
                "type": "Opaque",
            }))
            .expect("a fixed Secret is valid");
            api.create(&PostParams::default(), &secret)
                .await
                .map(|_| ())
                .map_err(|e| {
                    format!(
                        "cannot create the canary Secret {canary}: {}",
                        crate::causes::once(&e)
                    )
                })
        }
        Err(e) => Err(format!(
            "cannot read the canary Secret {canary}: {}",
            crate::causes::once(&e)
        )),
    }
}

async fn stamp(client: &Client, canary: &CanarySecret) -> Result<(), String> {
    let api = Api::<Secret>::namespaced(client.clone(), &canary.namespace);
    let now = secretkms_core::secret_encryption::rfc3339(std::time::SystemTime::now());
    let stamp = format!("{now} {}", std::process::id());
    let patch = serde_json::json!({ "metadata": { "annotations": { ANNOTATION: stamp } } });
    api.patch(&canary.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot write the canary Secret {canary}: {:#}", folded(e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Level;

    const KMS: &str = "k8s:enc:kms:v2:ack:";

    fn reading(writes: &[(&str, u64)]) -> Reading {
        Reading {
            apiserver: String::new(),
            writes: writes.iter().map(|(p, n)| ((*p).into(), *n)).collect(),
            key_ids: Vec::new(),
        }
    }

    fn write(prefixes: &[&str]) -> CanaryWrite {
        CanaryWrite {
            namespace: "kube-system".into(),
            name: "c".into(),
            prefixes: prefixes.iter().map(|p| (*p).into()).collect(),
            via: "metrics",
        }
    }

    #[test]
    fn the_grown_counter_names_the_writer() {
        let grew = grown(
            &reading(&[("", 3), (KMS, 1)]),
            &reading(&[("", 3), (KMS, 2)]),
        );
        assert_eq!(grew.unwrap(), [KMS]);
        assert!(grown(&reading(&[(KMS, 1)]), &reading(&[(KMS, 1)])).is_err());
    }

    #[test]
    fn kms_is_expected_after_enable_and_refused_after_disable() {
        assert_eq!(judge(&write(&[KMS]), true).level, Level::Pass);
        assert_eq!(judge(&write(&[""]), true).level, Level::Fail);
        assert_eq!(judge(&write(&[""]), false).level, Level::Pass);
        assert_eq!(
            judge(&write(&["k8s:enc:aescbc:v1:"]), false).level,
            Level::Pass
        );
        assert_eq!(judge(&write(&[KMS]), false).level, Level::Fail);
        assert!(judge(&write(&[""]), false).detail.contains("identity"));
    }
}
