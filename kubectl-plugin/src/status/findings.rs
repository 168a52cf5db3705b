//! What needs attention in the status: the judge's findings on the state (declared, key,
//! apiserver, sources, rewrite), then the parts only the plugin sees: the webhook
//! registrations, the policies' decision now and the stored envelopes.

use secretkms_core::judgement::{self, Finding, Level};
use secretkms_core::rotation_reach::Moves;
use secretkms_model::EncryptionState;

use super::report::StatusReport;

/// The findings of `report`, whose facts made `state`.
pub fn findings(state: &EncryptionState, r: &StatusReport) -> Vec<Finding> {
    let mut out = judgement::findings(state);
    match (&r.webhooks.value, &r.webhooks.error) {
        (Some(list), _) if list.is_empty() => out.push(
            Finding::new(
                Level::Warn,
                "webhook",
                "registered",
                "NoWebhook",
                "no *.secretkms.io webhook is registered",
            )
            .fix("install the chart: helm install secretkms charts/secretkms -n secretkms --create-namespace"),
        ),
        (Some(list), _) => {
            for w in list {
                for (check, c) in [("ca-bundle", &w.ca_bundle), ("answering", &w.answering)] {
                    if c.level == Level::Fail {
                        out.push(Finding::new(
                            Level::Fail,
                            "webhook",
                            check,
                            "WebhookBroken",
                            format!("{}: {}", w.webhook, c.detail),
                        ));
                    }
                }
                for weakening in &w.weakened {
                    out.push(
                        Finding::new(
                            Level::Warn,
                            "webhook",
                            "guard",
                            "GuardWeakened",
                            format!("{}: {weakening}", w.webhook),
                        )
                        .fix(
                            "drop the webhook's --state-file, and keep builtin:secret-write-guard \
                             enforcing in its --policy-config; then remove --allow-weakening",
                        ),
                    );
                }
            }
        }
        (_, Some(e)) => out.push(Finding::new(
            Level::Warn,
            "webhook",
            "registered",
            "WebhooksUnknown",
            format!("cannot list webhook configurations: {e}"),
        )),
        _ => {}
    }
    match (&r.policy.value, &r.policy.error) {
        (Some(p), _) if !p.allowed => out.push(Finding::new(
            Level::Fail,
            "policy",
            "decision",
            "WouldDeny",
            format!("a Secret write would be denied ({}): {}", p.code, p.message),
        )),
        (_, Some(e)) => out.push(Finding::new(
            Level::Warn,
            "policy",
            "decision",
            "PolicyError",
            format!("cannot evaluate the policies: {e}"),
        )),
        _ => {}
    }
    if let Some(reach) = &r.rotation.value
        && reach.moves == Moves::No
    {
        out.push(
            Finding::new(
                Level::Warn,
                "rewrite",
                "rewraps",
                "RewriteAnnotatesOnly",
                format!(
                    "with {} a rewrite cannot move Secrets to the current key version: {}",
                    reach.reach.layout(),
                    reach.explanation
                ),
            )
            .fix("restart every apiserver, then kubectl secretkms rewrite -A"),
        );
    }
    if let Some(etcd) = &r.etcd {
        match (&etcd.value, &etcd.error) {
            (Some(c), _) => {
                let plain: u64 = c
                    .envelopes
                    .iter()
                    .filter(|e| e.envelope.provider == "identity")
                    .map(|e| e.count)
                    .sum();
                if plain > 0 {
                    out.push(
                        Finding::new(
                            Level::Warn,
                            "etcd",
                            "encrypted",
                            "PlaintextSecrets",
                            format!("{plain} Secrets are stored in plaintext"),
                        )
                        .fix("kubectl secretkms rewrite -A"),
                    );
                }
                // One row per key_id and version annotation: with a constant key_id the version
                // tells the seeds apart.
                let kms_ids = c
                    .envelopes
                    .iter()
                    .filter(|e| e.envelope.provider == "kms-v2")
                    .count();
                if kms_ids > 1 {
                    out.push(
                        Finding::new(
                            Level::Warn,
                            "etcd",
                            "one-key",
                            "SeveralKeyIds",
                            format!(
                                "Secrets are stored under {kms_ids} KMS v2 key ids or key versions: a rewrite is unfinished"
                            ),
                        )
                        .fix("kubectl secretkms rewrite -A"),
                    );
                }
            }
            (_, Some(e)) => out.push(Finding::new(
                Level::Warn,
                "etcd",
                "read",
                "EtcdUnreadable",
                e.clone(),
            )),
            _ => {}
        }
    }
    out
}
