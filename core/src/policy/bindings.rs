//! Host-side bindings for the `policy` world of `policies/wit` (package `secretkms:policy@0.2.0`)
//! and the conversions from the shared state model (`secretkms-model`) into its WIT types.
//!
//! The WIT types stay private to the runtime: callers see the model and [`super::Verdict`], so a
//! change of the contract is absorbed here instead of in every host.

use secretkms_model as model;

// Async on both sides: the webhook awaits an evaluation on its tokio workers (the guest runs on a
// fiber and yields at each epoch tick) and `describe-key` awaits KMS there; synchronous callers
// drive the same futures to completion on their own thread (`super::block_on`).
wasmtime::component::bindgen!({
    world: "policy",
    path: "../policies/wit",
    imports: { default: async },
    exports: { default: async },
});

pub(crate) use secretkms::policy::types as wit;

/// The package every policy must be built against; imports of other versions are refused at load.
pub(crate) const CONTRACT_PACKAGE: &str = "secretkms:policy";
pub(crate) const CONTRACT_VERSION: &str = "0.2.0";

/// Converts the state model into the WIT record handed to `validate`.
pub(crate) fn encryption_state(s: &model::EncryptionState) -> wit::EncryptionState {
    wit::EncryptionState {
        declared: s.declared.as_ref().map(|d| wit::Declared {
            provider: d.provider.clone(),
            key: d.key.clone(),
            region: d.region.clone(),
            required_key_spec: d.required_key_spec.clone(),
            enforce: d.enforce,
            exempt_namespaces: d.exempt_namespaces.clone(),
            max_state_age_seconds: d.max_state_age_seconds,
        }),
        key: s.key.as_ref().map(key_facts),
        apiserver: s.apiserver.as_ref().map(|a| wit::ApiserverFacts {
            kms_configured: a.kms_configured,
            kms_healthy: a.kms_healthy,
            detail: a.detail.clone(),
            checks: a
                .checks
                .iter()
                .map(|c| wit::KmsCheck {
                    name: c.name.clone(),
                    healthy: c.healthy,
                    detail: c.detail.clone(),
                })
                .collect(),
            secret_writers: a
                .secret_writers
                .iter()
                .map(|w| wit::SecretWriter {
                    apiserver: w.apiserver.clone(),
                    prefix: w.prefix.clone(),
                })
                .collect(),
        }),
        plugin: s.plugin.as_ref().map(|p| wit::PluginFacts {
            healthz: p.healthz.clone(),
            key_id: p.key_id.clone(),
            version: p.version.clone(),
        }),
        rewrite: s.rewrite.as_ref().map(|r| wit::RewriteFacts {
            target: r.target.clone(),
            total: r.total,
            done: r.done,
        }),
        sources: s
            .sources
            .iter()
            .map(|src| wit::SourceStatus {
                name: src.name.clone(),
                age_seconds: src.age_seconds,
                last_error: src.last_error.clone(),
            })
            .collect(),
        now: s.now,
    }
}

/// Converts key metadata (from the state or from a [`super::KeyLookup`]) into its WIT record.
pub(crate) fn key_facts(k: &model::KeyFacts) -> wit::KeyFacts {
    wit::KeyFacts {
        requested: k.requested.clone(),
        key_id: k.key_id.clone(),
        arn: k.arn.clone(),
        region: k.region.clone(),
        state: match k.state {
            model::KeyState::Enabled => wit::KeyState::Enabled,
            model::KeyState::Disabled => wit::KeyState::Disabled,
            model::KeyState::PendingDeletion => wit::KeyState::PendingDeletion,
            model::KeyState::PendingImport => wit::KeyState::PendingImport,
            model::KeyState::Unknown => wit::KeyState::Unknown,
        },
        state_name: k.state_name.clone(),
        spec: k.spec.clone(),
        usage: k.usage.clone(),
        primary_key_version: k.primary_key_version.clone(),
        delete_date: k.delete_date.clone(),
        deletion_protection: k.deletion_protection,
        automatic_rotation: k.automatic_rotation,
        rotation_interval: k.rotation_interval.clone(),
        last_rotation_date: k.last_rotation_date.clone(),
        next_rotation_date: k.next_rotation_date.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_the_state_reaches_the_wit_record() {
        let s = model::EncryptionState {
            declared: Some(model::Declared {
                key: "alias/k8s".into(),
                ..Default::default()
            }),
            key: Some(model::KeyFacts {
                key_id: "key-1".into(),
                state: model::KeyState::PendingDeletion,
                delete_date: Some("2026-09-01T00:00:00Z".into()),
                ..Default::default()
            }),
            apiserver: Some(model::ApiserverFacts {
                kms_configured: true,
                ..Default::default()
            }),
            plugin: None,
            rewrite: Some(model::RewriteFacts {
                target: "t".into(),
                total: 3,
                done: 1,
            }),
            sources: vec![model::SourceStatus {
                name: "kms".into(),
                age_seconds: Some(4),
                last_error: None,
            }],
            now: 1_700_000_000,
        };
        let w = encryption_state(&s);
        assert_eq!(w.declared.unwrap().key, "alias/k8s");
        let key = w.key.unwrap();
        assert!(matches!(key.state, wit::KeyState::PendingDeletion));
        assert_eq!(key.delete_date.as_deref(), Some("2026-09-01T00:00:00Z"));
        assert!(w.apiserver.unwrap().kms_configured);
        assert!(w.plugin.is_none());
        assert_eq!(w.rewrite.unwrap().done, 1);
        assert_eq!(w.sources[0].age_seconds, Some(4));
        assert_eq!(w.now, 1_700_000_000);
    }
}
