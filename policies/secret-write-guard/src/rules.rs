//! The guard's rules, each a pure function over the state that adds denial reasons or warnings
//! to [`Findings`]. Every message says what is wrong, with the value, and how to fix it.

use secretkms_policy_kit::model::{defaults, fix_commands};
use secretkms_policy_kit::{Declared, EncryptionState, KeyFacts, KeyState, Warnings};

use crate::settings::Settings;

/// Sources whose data only feeds warnings; their staleness never denies.
const SOFT_SOURCES: &[&str] = &["rewrite"];

/// What the rules found: reasons to deny, and softer warnings.
#[derive(Debug, Default)]
pub struct Findings {
    pub denials: Vec<String>,
    pub warnings: Warnings,
}

/// Inputs every rule reads.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub state: &'a EncryptionState,
    pub declared: &'a Declared,
    pub settings: &'a Settings,
}

impl<'a> Context<'a> {
    /// Settings, then the declared resource, then `Aliyun_AES_256`.
    pub fn required_key_spec(&self) -> &str {
        self.settings
            .required_key_spec
            .as_deref()
            .or(Some(self.declared.required_key_spec.as_str()))
            .filter(|s| !s.is_empty())
            .unwrap_or(defaults::KEY_SPEC)
    }

    /// Settings, then the declared resource (whose own default is 300 s).
    pub fn max_state_age_seconds(&self) -> u64 {
        self.settings
            .max_state_age_seconds
            .unwrap_or(self.declared.max_state_age_seconds)
    }

    /// The key facts, when they were described for the declared key (or say not which key they
    /// were asked for, as older state files do).
    pub fn key(&self) -> Option<&'a KeyFacts> {
        self.state
            .key
            .as_ref()
            .filter(|k| k.requested.is_empty() || k.requested == self.declared.key)
    }

    /// The key's id for messages and commands: the KMS's id, else what was declared.
    fn key_id<'k>(&'k self, key: &'k KeyFacts) -> &'k str {
        if key.key_id.is_empty() {
            &self.declared.key
        } else {
            &key.key_id
        }
    }
}

/// How to fix a source that cannot be observed, by source name.
fn source_fix(name: &str) -> &'static str {
    match name {
        "declared" => "check that the webhook may get secretencryptions.secretkms.io (RBAC)",
        "kms" => "check the webhook's KMS credentials and its network path to the KMS endpoint",
        "apiserver" => {
            "check that the webhook may get the nonResourceURLs /readyz, /readyz/kms-provider* \
             and /metrics (RBAC)"
        }
        "plugin" => "check that the KMS v2 plugin socket is mounted and the plugin is running",
        "file" => "refresh the state file",
        _ => "check the webhook's logs for this source",
    }
}

/// Denies when a source the guard relies on is older than allowed, failed without ever
/// answering, or has not answered yet: its facts would be guesses.
pub fn stale_sources(cx: &Context<'_>, f: &mut Findings) {
    let max = cx.max_state_age_seconds();
    for source in &cx.state.sources {
        if SOFT_SOURCES.contains(&source.name.as_str()) {
            continue;
        }
        let error = source
            .last_error
            .as_deref()
            .map(|e| format!(", last error: {e}"))
            .unwrap_or_default();
        let fix = source_fix(&source.name);
        match source.age_seconds {
            Some(age) if age > max => f.denials.push(format!(
                "state source `{}` is stale: last observed {age} s ago, allowed {max} s{error}; \
                 fix: {fix} (or raise maxStateAgeSeconds)",
                source.name
            )),
            Some(_) => {}
            None if source.last_error.is_some() => f.denials.push(format!(
                "state source `{}` has never answered{error}; fix: {fix}",
                source.name
            )),
            None => f.denials.push(format!(
                "state source `{}` has not been observed yet; fix: retry in a few seconds, \
                 and if it persists {fix}",
                source.name
            )),
        }
    }
}

/// Denies while the kube-apiserver has no KMS health check (no KMS provider is configured, so
/// new Secrets would be stored in plaintext) or reports one unhealthy.
pub fn apiserver_provider(cx: &Context<'_>, f: &mut Findings) {
    let Some(api) = &cx.state.apiserver else {
        return;
    };
    if !api.kms_configured {
        f.denials.push(format!(
            "encryption is declared (provider {}, key {}) but the kube-apiserver has no KMS \
             health check (neither kms-providers nor kms-provider-N in /readyz?verbose), so no \
             KMS provider is configured and new Secrets would be stored in plaintext; fix: add \
             the kms provider first in the apiserver's EncryptionConfiguration (on ACK: enable \
             Secret encryption in the cluster's console)",
            cx.declared.provider, cx.declared.key
        ));
        return;
    }
    let failing: Vec<String> = api
        .checks
        .iter()
        .filter(|c| !c.healthy)
        .map(|c| format!("{}: {}", c.name, one_line(&c.detail, 200)))
        .collect();
    if !api.kms_healthy {
        let what = if failing.is_empty() {
            one_line(&api.detail, 200)
        } else {
            failing.join("; ")
        };
        f.denials.push(format!(
            "the kube-apiserver reports its KMS provider unhealthy ({what}); fix: check the KMS \
             plugin and the key's state (kubectl get --raw '/readyz?verbose')"
        ));
    }
}

/// Denies while an apiserver writes new Secrets under a provider that is not KMS: `identity`
/// first (plaintext) or a local key such as `aescbc` first. A healthy KMS check says nothing
/// about provider order; the apiserver always writes with the first provider, so only what it
/// wrote tells. Each writer is named, with the provider it writes under.
pub fn secret_writers(cx: &Context<'_>, f: &mut Findings) {
    let Some(api) = &cx.state.apiserver else {
        return;
    };
    for writer in api.secret_writers.iter().filter(|w| !w.is_kms()) {
        let who = if writer.apiserver.is_empty() {
            "the kube-apiserver".to_string()
        } else {
            format!("kube-apiserver {}", writer.apiserver)
        };
        let consequence = if writer.prefix.is_empty() {
            "new Secrets are stored in etcd in plaintext"
        } else {
            "new Secrets are encrypted with a key kept beside the apiserver, not the declared KMS key"
        };
        f.denials.push(format!(
            "{who} writes Secrets with {} although {} with key {} is declared: {consequence}; \
             fix: put the kms provider first in the resources entry for secrets of its \
             EncryptionConfiguration (keep the old provider after it, so existing Secrets stay \
             readable) and restart the apiserver",
            writer.provider(),
            cx.declared.provider,
            cx.declared.key
        ));
    }
}

/// Denies when the key facts were described for another key than the declared one: after the
/// declaration changes, the last facts of the old key say nothing about the new one.
pub fn key_of_the_declaration(cx: &Context<'_>, f: &mut Findings) {
    if let Some(key) = &cx.state.key
        && cx.key().is_none()
    {
        f.denials.push(format!(
            "the KMS facts are for key {} but key {} is declared: the declared key's state is \
             not known yet; fix: retry in a few seconds, and if it persists check that the \
             webhook may DescribeKey {}",
            key.requested, cx.declared.key, cx.declared.key
        ));
    }
}

/// Denies while the KMS v2 plugin is unhealthy or encrypts with another key than the declared
/// one.
///
/// The plugin's key_id is opaque to Kubernetes; by convention it names the key and its version.
/// Rule: when both the plugin's key_id and the key's facts are known, the key_id must contain
/// the key's id, ARN or primary key version. If it names the key but not the current primary
/// version, the plugin has not yet picked up a rotation: a warning, since the Secrets are still
/// encrypted with the right key. If it names neither, the plugin uses another key: a denial.
/// Plugins whose key_id is a hash turn this off with `checkPluginKeyId: false`.
pub fn plugin(cx: &Context<'_>, f: &mut Findings) {
    let Some(plugin) = &cx.state.plugin else {
        return;
    };
    if !plugin.healthz.eq_ignore_ascii_case("ok") {
        f.denials.push(format!(
            "the KMS v2 plugin reports healthz {:?} (expected \"ok\"); fix: check the plugin's \
             logs and its access to the KMS key {}",
            one_line(&plugin.healthz, 120),
            cx.declared.key
        ));
    }
    let Some(key) = cx.key() else {
        return;
    };
    if !cx.settings.check_plugin_key_id || plugin.key_id.is_empty() || key.key_id.is_empty() {
        return;
    }
    let version = key.primary_key_version.as_deref().filter(|v| !v.is_empty());
    let names_version = version.is_some_and(|v| plugin.key_id.contains(v));
    let names_key = plugin.key_id.contains(key.key_id.as_str())
        || key
            .arn
            .as_deref()
            .is_some_and(|arn| plugin.key_id.contains(arn));
    match (names_key, names_version, version) {
        (_, true, _) => {}
        (true, false, Some(v)) => f.warnings.push(format!(
            "KMS v2 plugin key_id {} lacks primary version {v} of key {}: it has not picked up \
             the rotation yet; restart the plugin if this persists",
            plugin.key_id, key.key_id
        )),
        (true, false, None) => {}
        (false, false, _) => f.denials.push(format!(
            "the KMS v2 plugin encrypts with key_id {:?}, which names neither the declared key \
             {} nor its primary version {}; fix: point the plugin at key {} (or set \
             checkPluginKeyId: false if its key_id is a hash)",
            plugin.key_id,
            key.key_id,
            version.unwrap_or("(unknown)"),
            key.key_id
        )),
    }
}

/// Denies unless the key is Enabled; each state's message carries its own fix.
pub fn key_state(cx: &Context<'_>, f: &mut Findings) {
    let Some(key) = cx.key() else {
        return;
    };
    let id = cx.key_id(key);
    let reason = match key.state {
        KeyState::Enabled => return,
        KeyState::Disabled => format!(
            "KMS key {id} is Disabled: the apiserver cannot encrypt or read Secrets with it; \
             fix: {}",
            fix_commands::enable_key(id)
        ),
        KeyState::PendingDeletion => format!(
            "KMS key {id} is PendingDeletion, to be deleted on {}: every Secret encrypted with \
             it becomes unreadable then; fix: {}",
            key.delete_date.as_deref().unwrap_or("an unknown date"),
            fix_commands::cancel_key_deletion(id)
        ),
        KeyState::PendingImport => format!(
            "KMS key {id} is PendingImport: it has no key material yet; fix: import the key \
             material (aliyun kms GetParametersForImport, then ImportKeyMaterial --KeyId {id}) \
             or declare an Enabled key"
        ),
        KeyState::Unknown => format!(
            "KMS key {id} is in state {:?}, which secretkms does not know; only Enabled keys may \
             encrypt Secrets; fix: check the key with {}",
            key.state_label(),
            fix_commands::describe_key(id)
        ),
    };
    f.denials.push(reason);
}

/// Denies when the key's spec is not the required one.
pub fn key_spec(cx: &Context<'_>, f: &mut Findings) {
    let Some(key) = cx.key() else {
        return;
    };
    let required = cx.required_key_spec();
    if key.spec != required {
        let id = cx.key_id(key);
        f.denials.push(format!(
            "KMS key {id} has spec {:?} but {required} is required; fix: create a key with \
             --KeySpec {required} and set it in the SecretEncryption's spec.key",
            key.spec
        ));
    }
}

/// Warns when nothing tells the guard about the key, so its state is not checked at all.
pub fn key_unobserved(cx: &Context<'_>, f: &mut Findings) {
    if cx.key().is_none() && cx.state.source("kms").is_none() {
        f.warnings.push(format!(
            "secretkms does not query the KMS, so the state of key {} is not checked; \
             configure the webhook's KMS access",
            cx.declared.key
        ));
    }
}

/// Softer findings: an unfinished rewrite after a rotation, deletion protection off,
/// automatic rotation off.
pub fn soft_warnings(cx: &Context<'_>, f: &mut Findings) {
    if let Some(rw) = &cx.state.rewrite
        && rw.done < rw.total
    {
        f.warnings.push(format!(
            "rewrite after key rotation unfinished: {} of {} Secrets carry rotation time {}; \
             run kubectl secretkms rewrite",
            rw.done, rw.total, rw.target
        ));
    }
    let Some(key) = cx.key() else {
        return;
    };
    let id = cx.key_id(key);
    if cx.settings.warn_on_deletion_protection_off && key.deletion_protection == Some(false) {
        f.warnings.push(format!(
            "KMS key {id} has deletion protection off; fix: {}",
            fix_commands::enable_deletion_protection(key.arn.as_deref())
        ));
    }
    if cx.settings.warn_on_rotation_off && key.automatic_rotation == Some(false) {
        f.warnings.push(format!(
            "KMS key {id} has automatic rotation off; fix: {}",
            fix_commands::enable_rotation(id)
        ));
    }
}

/// `text` on one line, cut to `max` characters.
fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        let cut: String = flat.chars().take(max.saturating_sub(3)).collect();
        format!("{cut}...")
    } else {
        flat
    }
}
