//! Changes to the SecretEncryption that leave encryption on but weaken the Secret write guard:
//! more exempt namespaces, an older trusted state, `provider: kms-plugin`, an endpoint that is
//! not Alibaba Cloud KMS, audit mode. Each needs `secretkms.io/force: "true"`, whatever the
//! apiserver reports, since each silences denials the guard would otherwise make.
//!
//! A CREATE is compared with the defaults for the fields whose default is the strongest
//! (`enforcement`, `provider`, `endpoint`); its exemptions and state age are the initial choice
//! (the CRD bounds the age). An UPDATE whose old spec no longer parses is compared with the
//! defaults throughout, so nothing weaker slips through unseen.

use secretkms_policy_kit::model::{KmsEndpoint, defaults};
use secretkms_policy_kit::{Enforcement, SecretEncryptionSpec};

use crate::settings::Settings;

/// The provider whose key facts the webhook cannot read.
const KMS_PLUGIN: &str = "kms-plugin";

/// One change that weakens the guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weakening {
    /// The field, as the operator writes it: `spec.exemptNamespaces`.
    pub field: &'static str,
    /// The value before, as shown to the operator.
    pub from: String,
    /// The value after.
    pub to: String,
    /// What the change does to the guard.
    pub effect: String,
    /// How to undo it.
    pub fix: String,
}

/// What the request's spec was compared with.
#[derive(Debug, Clone, Copy)]
pub enum Before<'a> {
    /// A CREATE: there was nothing.
    Nothing,
    /// An UPDATE whose old spec could not be read.
    Unknown,
    /// An UPDATE.
    Spec(&'a SecretEncryptionSpec),
}

/// Every way `new` weakens the guard compared with `before`.
pub fn weakenings(
    before: Before<'_>,
    new: &SecretEncryptionSpec,
    settings: &Settings,
) -> Vec<Weakening> {
    let defaults = SecretEncryptionSpec::default();
    let (old, whole) = match before {
        Before::Nothing => (&defaults, false),
        Before::Unknown => (&defaults, true),
        Before::Spec(old) => (old, true),
    };
    let mut found = Vec::new();
    if whole {
        found.extend(exemptions_added(old, new));
        found.extend(state_age_raised(old, new));
    }
    found.extend(provider_without_facts(old, new));
    found.extend(foreign_endpoint(old, new));
    if settings.deny_audit_switch {
        found.extend(audit_mode(old, new));
    }
    found
}

/// Writes in a newly exempt namespace are never denied.
fn exemptions_added(old: &SecretEncryptionSpec, new: &SecretEncryptionSpec) -> Option<Weakening> {
    let added: Vec<&str> = new
        .exempt_namespaces
        .iter()
        .filter(|ns| !old.exempt_namespaces.contains(ns))
        .map(String::as_str)
        .collect();
    if added.is_empty() {
        return None;
    }
    Some(Weakening {
        field: "spec.exemptNamespaces",
        from: list(&old.exempt_namespaces),
        to: list(&new.exempt_namespaces),
        effect: format!(
            "Secret writes in {} would never be denied, whatever the key's state",
            added.join(", ")
        ),
        fix: "keep spec.exemptNamespaces without them".into(),
    })
}

/// The guard trusts older facts, so a broken key passes for longer.
fn state_age_raised(old: &SecretEncryptionSpec, new: &SecretEncryptionSpec) -> Option<Weakening> {
    let before = old
        .max_state_age_seconds
        .unwrap_or(defaults::MAX_STATE_AGE_SECONDS);
    let after = new
        .max_state_age_seconds
        .unwrap_or(defaults::MAX_STATE_AGE_SECONDS);
    (after > before).then(|| Weakening {
        field: "spec.maxStateAgeSeconds",
        from: before.to_string(),
        to: after.to_string(),
        effect: format!(
            "facts up to {after} s old would be trusted, so a key disabled or scheduled for \
             deletion keeps passing for that long after the webhook last heard of it"
        ),
        fix: format!("keep spec.maxStateAgeSeconds at {before} or lower"),
    })
}

/// `kms-plugin` stops the KMS poller, and the webhook has no other source of the key's state.
fn provider_without_facts(
    old: &SecretEncryptionSpec,
    new: &SecretEncryptionSpec,
) -> Option<Weakening> {
    (new.provider == KMS_PLUGIN && old.provider != KMS_PLUGIN).then(|| Weakening {
        field: "spec.provider",
        from: old.provider.clone(),
        to: new.provider.clone(),
        effect: "the webhook would stop reading the key's state from Alibaba Cloud KMS and has \
                 no other source for it, so a disabled or deleted key would no longer deny \
                 Secret writes"
            .into(),
        fix: format!("keep spec.provider {}", defaults::PROVIDER),
    })
}

/// The KMS poller sends its signed requests, STS token included, to `spec.endpoint` and
/// believes the key state it answers.
fn foreign_endpoint(old: &SecretEncryptionSpec, new: &SecretEncryptionSpec) -> Option<Weakening> {
    let to = new.endpoint.as_deref()?;
    if old.endpoint.as_deref() == Some(to) {
        return None;
    }
    let reason = KmsEndpoint::parse(to).err()?;
    Some(Weakening {
        field: "spec.endpoint",
        from: old.endpoint.as_deref().unwrap_or("unset").to_string(),
        to: to.to_string(),
        effect: format!(
            "it is not an Alibaba Cloud KMS endpoint ({reason}); the webhook would send its \
             signed KMS requests there and trust the key state it answers"
        ),
        fix: "unset spec.endpoint, or use https://kms.<region>.aliyuncs.com, \
              https://kms-vpc.<region>.aliyuncs.com or \
              https://<kst-...>.cryptoservice.kms.aliyuncs.com"
            .into(),
    })
}

/// Audit mode admits every Secret write, with a warning, while encryption is broken.
fn audit_mode(old: &SecretEncryptionSpec, new: &SecretEncryptionSpec) -> Option<Weakening> {
    (old.enforcement == Enforcement::Enforce && new.enforcement == Enforcement::Audit).then(|| {
        Weakening {
            field: "spec.enforcement",
            from: "enforce".into(),
            to: "audit".into(),
            effect: "Secret writes under a broken key would pass with a warning instead of \
                     being denied"
                .into(),
            fix: "keep spec.enforcement enforce".into(),
        }
    })
}

/// `[a, b]`, or `[]`.
fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SecretEncryptionSpec {
        SecretEncryptionSpec {
            key: "key-1".into(),
            exempt_namespaces: vec!["kube-system".into()],
            ..Default::default()
        }
    }

    fn fields(found: &[Weakening]) -> Vec<&'static str> {
        found.iter().map(|w| w.field).collect()
    }

    fn update(old: &SecretEncryptionSpec, new: &SecretEncryptionSpec) -> Vec<Weakening> {
        weakenings(Before::Spec(old), new, &Settings::default())
    }

    #[test]
    fn unchanged_and_stronger_specs_weaken_nothing() {
        let old = spec();
        assert_eq!(update(&old, &old), []);
        let mut stronger = spec();
        stronger.exempt_namespaces.clear();
        stronger.max_state_age_seconds = Some(60);
        stronger.endpoint = Some("https://kms-vpc.cn-hangzhou.aliyuncs.com".into());
        assert_eq!(update(&old, &stronger), []);
        let mut audit = spec();
        audit.enforcement = Enforcement::Audit;
        let mut back = spec();
        back.enforcement = Enforcement::Enforce;
        assert_eq!(update(&audit, &back), []);
    }

    #[test]
    fn added_exemptions_name_the_new_namespaces() {
        let mut new = spec();
        new.exempt_namespaces = vec!["team-a".into(), "kube-system".into(), "ci".into()];
        let found = update(&spec(), &new);
        assert_eq!(fields(&found), ["spec.exemptNamespaces"]);
        let w = &found[0];
        assert_eq!(
            (w.from.as_str(), w.to.as_str()),
            ("[kube-system]", "[team-a, kube-system, ci]")
        );
        assert!(w.effect.contains("in team-a, ci would"), "{}", w.effect);
        let mut swapped = spec();
        swapped.exempt_namespaces = vec!["team-a".into()];
        assert_eq!(
            fields(&update(&spec(), &swapped)),
            ["spec.exemptNamespaces"]
        );
    }

    #[test]
    fn a_raised_state_age_counts_from_the_default() {
        let mut new = spec();
        new.max_state_age_seconds = Some(301);
        let found = update(&spec(), &new);
        assert_eq!(
            (found[0].from.as_str(), found[0].to.as_str()),
            ("300", "301")
        );
        let mut old = spec();
        old.max_state_age_seconds = Some(60);
        let found = update(&old, &spec());
        assert_eq!(
            (found[0].from.as_str(), found[0].to.as_str()),
            ("60", "300")
        );
    }

    #[test]
    fn kms_plugin_and_foreign_endpoints_are_caught_on_create_too() {
        let mut new = spec();
        new.provider = KMS_PLUGIN.into();
        new.endpoint = Some("https://kms.example.com".into());
        let found = weakenings(Before::Nothing, &new, &Settings::default());
        assert_eq!(fields(&found), ["spec.provider", "spec.endpoint"]);
        assert_eq!(found[1].from, "unset");
        assert!(
            found[1].effect.contains("host kms.example.com"),
            "{}",
            found[1].effect
        );
        // Already declared: not a change.
        assert_eq!(update(&new, &new), []);
    }

    #[test]
    fn alibaba_and_loopback_endpoints_need_no_force() {
        for endpoint in [
            "https://kms.cn-hangzhou.aliyuncs.com",
            "vpc:cn-hangzhou",
            "https://kst-hzz62ee817bvyyr5x.cryptoservice.kms.aliyuncs.com",
            "http://127.0.0.1:18080",
        ] {
            let mut new = spec();
            new.endpoint = Some(endpoint.into());
            assert_eq!(update(&spec(), &new), [], "{endpoint}");
        }
    }

    #[test]
    fn audit_mode_on_create_or_switch_unless_the_settings_allow_it() {
        let mut audit = spec();
        audit.enforcement = Enforcement::Audit;
        let found = weakenings(Before::Nothing, &audit, &Settings::default());
        assert_eq!(fields(&found), ["spec.enforcement"]);
        assert_eq!(fields(&update(&spec(), &audit)), ["spec.enforcement"]);
        let lenient = Settings {
            deny_audit_switch: false,
            ..Settings::default()
        };
        assert_eq!(weakenings(Before::Nothing, &audit, &lenient), []);
    }

    #[test]
    fn an_unreadable_old_spec_is_compared_with_the_defaults() {
        let found = weakenings(Before::Unknown, &spec(), &Settings::default());
        assert_eq!(fields(&found), ["spec.exemptNamespaces"]);
        assert_eq!(
            weakenings(Before::Nothing, &spec(), &Settings::default()),
            []
        );
    }
}
