//! Conversions from the shared state model (`secretkms-model`, the JSON form of `--state-file`
//! and of the cases' `state.json`) into the generated WIT types, for native tests: the same
//! mapping the host makes before calling `validate` (`core/src/policy/bindings.rs`).

use secretkms_model as model;

use crate::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyState, KmsCheck, PluginFacts,
    RewriteFacts, SecretWriter, SourceStatus,
};

impl From<&model::EncryptionState> for EncryptionState {
    fn from(s: &model::EncryptionState) -> Self {
        Self {
            declared: s.declared.as_ref().map(Into::into),
            key: s.key.as_ref().map(Into::into),
            apiserver: s.apiserver.as_ref().map(|a| ApiserverFacts {
                kms_configured: a.kms_configured,
                kms_healthy: a.kms_healthy,
                detail: a.detail.clone(),
                checks: a
                    .checks
                    .iter()
                    .map(|c| KmsCheck {
                        name: c.name.clone(),
                        healthy: c.healthy,
                        detail: c.detail.clone(),
                    })
                    .collect(),
                secret_writers: a
                    .secret_writers
                    .iter()
                    .map(|w| SecretWriter {
                        apiserver: w.apiserver.clone(),
                        prefix: w.prefix.clone(),
                    })
                    .collect(),
            }),
            plugin: s.plugin.as_ref().map(|p| PluginFacts {
                healthz: p.healthz.clone(),
                key_id: p.key_id.clone(),
                version: p.version.clone(),
            }),
            rewrite: s.rewrite.as_ref().map(|r| RewriteFacts {
                target: r.target.clone(),
                total: r.total,
                done: r.done,
            }),
            sources: s
                .sources
                .iter()
                .map(|src| SourceStatus {
                    name: src.name.clone(),
                    age_seconds: src.age_seconds,
                    last_error: src.last_error.clone(),
                })
                .collect(),
            now: s.now,
        }
    }
}

impl From<&model::Declared> for Declared {
    fn from(d: &model::Declared) -> Self {
        Self {
            provider: d.provider.clone(),
            key: d.key.clone(),
            region: d.region.clone(),
            required_key_spec: d.required_key_spec.clone(),
            enforce: d.enforce,
            exempt_namespaces: d.exempt_namespaces.clone(),
            max_state_age_seconds: d.max_state_age_seconds,
        }
    }
}

impl From<&model::KeyFacts> for KeyFacts {
    fn from(k: &model::KeyFacts) -> Self {
        Self {
            requested: k.requested.clone(),
            key_id: k.key_id.clone(),
            arn: k.arn.clone(),
            region: k.region.clone(),
            state: match k.state {
                model::KeyState::Enabled => KeyState::Enabled,
                model::KeyState::Disabled => KeyState::Disabled,
                model::KeyState::PendingDeletion => KeyState::PendingDeletion,
                model::KeyState::PendingImport => KeyState::PendingImport,
                model::KeyState::Unknown => KeyState::Unknown,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_of_the_model_reaches_the_wit_types() {
        let mut m = model::fixtures::healthy();
        m.key.as_mut().unwrap().state = model::KeyState::PendingDeletion;
        m.key.as_mut().unwrap().delete_date = Some("2026-09-01T00:00:00Z".into());
        m.sources[1].last_error = Some("Throttling".into());
        let w = EncryptionState::from(&m);
        let d = w.declared.as_ref().unwrap();
        assert_eq!(d.key, model::fixtures::KEY_ALIAS);
        assert_eq!(d.required_key_spec, model::defaults::KEY_SPEC);
        assert_eq!(d.exempt_namespaces, ["kube-system"]);
        let key = w.key.as_ref().unwrap();
        assert_eq!(key.state, KeyState::PendingDeletion);
        assert_eq!(key.delete_date.as_deref(), Some("2026-09-01T00:00:00Z"));
        assert_eq!(key.arn.as_deref(), Some(model::fixtures::KEY_ARN));
        assert!(w.apiserver.as_ref().unwrap().kms_healthy);
        assert_eq!(w.plugin.as_ref().unwrap().healthz, "ok");
        assert_eq!(w.rewrite.as_ref().unwrap().done, 1200);
        assert_eq!(w.sources.len(), m.sources.len());
        assert_eq!(w.sources[1].last_error.as_deref(), Some("Throttling"));
        assert_eq!(w.now, model::fixtures::NOW);
    }
}
