//! Gathering the status: each part from its own source (the SecretEncryption, KMS, the
//! apiserver's health check, the webhook configurations, a metadata-only Secret listing, etcd),
//! every failure kept as that part's error, and the facts folded into the same
//! [`EncryptionState`] the webhook builds, so the judge and the policies see what it would see.

use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Client};
use secretkms_core::apiserver_health;
use secretkms_core::kms_facts;
use secretkms_core::observations::Observations;
use secretkms_core::policy::{PolicyConfig, PolicyRuntime, RuntimeConfig};
use secretkms_core::review::Review;
use secretkms_core::rotation_reach::{Rewritten, StoredKeyId};
use secretkms_core::secret_writers;
use secretkms_model::{CannedKeys, Declared, EncryptionState, RewriteFacts};

use super::report::{Part, PolicyPreview, RewriteProgress, StatusReport};
use super::{StatusArgs, webhook_health};
use crate::causes::folded;
use crate::kms_access::{self, KeyTarget};
use crate::kube_args::KubeArgs;
use crate::rotation_evidence::{self, ReachReport};
use crate::rotation_time::{self, ANNOTATION};

/// Every part of the report (findings still empty) and the state its facts make.
pub async fn gather(
    client: &Client,
    kube: &KubeArgs,
    namespace: &str,
    args: StatusArgs,
) -> (StatusReport, EncryptionState) {
    let StatusArgs {
        key,
        region,
        time,
        webhook,
        kms,
        etcd,
        apiservers,
        expect_key_id,
    } = args;
    let now = SystemTime::now();
    let mut obs = Observations::default();

    let spec = kms_access::declared(client).await;
    let declared = match &spec {
        Ok(Some(spec)) => {
            obs.declared.succeed(Declared::from(spec), now);
            Part::ok(Declared::from(spec))
        }
        Ok(None) => {
            obs.declared.absent(now);
            Part::none()
        }
        Err(e) => {
            obs.declared.fail(format!("{e:#}"));
            Part::err(e)
        }
    };
    let spec = spec.ok().flatten();

    let target = KeyTarget::resolve(key, region, spec.as_ref());
    let key_facts = match &target {
        Some(target) => {
            let result = async {
                anyhow::Ok(kms_facts::describe(&target.client(&kms)?, &target.key).await?)
            }
            .await;
            match &result {
                Ok(f) => obs.key.succeed(f.clone(), now),
                Err(e) => obs.key.fail(format!("{e:#}")),
            }
            Part::from(result)
        }
        None => Part::none(),
    };

    // Status never writes, so it cannot make the counters move: one reading names the writer
    // only when it is the only provider that ever wrote Secrets on that apiserver.
    let sole_writer = secret_writers::read(client)
        .await
        .ok()
        .and_then(|r| r.sole_writer());
    let apiserver = Part::from(apiserver_health::probe(client).await.map(|mut facts| {
        facts.secret_writers = sole_writer.into_iter().collect();
        facts
    }));
    match (&apiserver.value, &apiserver.error) {
        (Some(f), _) => obs.apiserver.succeed(f.clone(), now),
        (None, Some(e)) => obs.apiserver.fail(e.clone()),
        _ => {}
    }

    let webhooks = Part::from(webhook_health::inspect(client, webhook.as_deref()).await);

    let time = time.or_else(|| {
        key_facts
            .value
            .as_ref()
            .and_then(|f| f.last_rotation_date.as_deref())
            .and_then(|d| rotation_time::from_kms_date(d).ok())
    });
    let etcd = if etcd.etcd_endpoints.is_empty() {
        None
    } else {
        Some(Part::from(etcd.count().await))
    };
    let stored = etcd
        .iter()
        .filter_map(|p| p.value.as_ref())
        .flat_map(|c| c.envelopes.iter())
        .filter(|e| e.envelope.provider == "kms-v2")
        .map(|e| StoredKeyId {
            key_id: e.envelope.key_id.clone(),
            key_version: Some(e.envelope.key_version.clone()).filter(|v| !v.is_empty()),
        })
        .collect();
    let knowledge = rotation_evidence::knowledge(
        key_facts.value.as_ref(),
        expect_key_id.as_deref(),
        time.as_deref(),
        stored,
    );
    let rotation = Part::from(
        rotation_evidence::reach(client, kube, &apiservers, &knowledge)
            .await
            .map(ReachReport::from),
    );
    let rewritten = rotation
        .value
        .as_ref()
        .map_or(Rewritten::Unknown, |r| r.rewritten);
    let rewrite = match &time {
        Some(t) => Part::from(progress(client, t, rewritten).await),
        None => Part::err("unknown rotation time: no key facts (pass --time)"),
    };
    if let Some(p) = &rewrite.value {
        obs.rewrite.succeed(
            RewriteFacts {
                target: p.time.clone(),
                total: p.total,
                done: p.done,
            },
            now,
        );
    }

    let state = obs.state_at(now);
    let keys: CannedKeys = target
        .iter()
        .zip(key_facts.value.iter())
        .map(|(t, f)| (t.key.clone(), f.clone()))
        .collect();
    let policy = Part::from(preview(&state, keys, namespace));

    let report = StatusReport {
        kind: "SecretKmsStatus",
        declared,
        key: key_facts,
        apiserver,
        webhooks,
        policy,
        rewrite,
        rotation,
        etcd,
        findings: Vec::new(),
        healthy: true,
    };
    (report, state)
}

/// Counts Secrets carrying `time` from a metadata-only listing (never their data).
async fn progress(
    client: &Client,
    time: &str,
    rewritten: Rewritten,
) -> anyhow::Result<RewriteProgress> {
    let api: Api<Secret> = Api::all(client.clone());
    let (mut done, mut total) = (0, 0);
    let mut token = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        lp.continue_token = token;
        let page = api.list_metadata(&lp).await.map_err(folded)?;
        for s in &page.items {
            total += 1;
            if s.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION))
                .is_some_and(|v| v == time)
            {
                done += 1;
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(RewriteProgress {
        annotation: ANNOTATION.into(),
        time: time.into(),
        done,
        total,
        rewritten,
    })
}

/// The builtin policies' decision on a synthetic Secret CREATE in `namespace`.
fn preview(
    state: &EncryptionState,
    keys: CannedKeys,
    namespace: &str,
) -> anyhow::Result<PolicyPreview> {
    let runtime = PolicyRuntime::new(RuntimeConfig::default())?;
    let set = runtime.load(&PolicyConfig::builtin(), Arc::new(keys))?;
    let request = serde_json::json!({
        "uid": "00000000-0000-0000-0000-000000000000",
        "kind": {"group": "", "version": "v1", "kind": "Secret"},
        "resource": {"group": "", "version": "v1", "resource": "secrets"},
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "kubectl-secretkms-status"},
        "object": {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "secretkms-status-probe", "namespace": namespace}},
        "dryRun": true
    });
    let request = request.to_string();
    let d = set.evaluate(&Review::decode_request(&request)?, state);
    Ok(PolicyPreview {
        namespace: namespace.into(),
        allowed: d.allowed(),
        code: d.code(),
        message: d.message,
        warnings: d.warnings,
    })
}
