//! The one judge: what the facts of an [`EncryptionState`] mean for a person. `kubectl
//! secretkms status` shows these findings, `key check` prints the key's checks, and the
//! webhook writes the conditions derived from them into the `SecretEncryption` status.
//!
//! These are summaries for people and alerts. Admission decisions stay the policies' alone;
//! the findings are written to agree with the secret-write guard (a test runs the committed
//! components over the state fixtures and compares), not to replace it.

mod conditions;
mod finding;
mod key_checks;
mod sources;

#[cfg(test)]
mod tests;

pub use conditions::{Judged, conditions};
pub use finding::{Finding, Level};
pub use key_checks::{REQUIRED_USAGE, key_checks};
pub use sources::FRESH;

use secretkms_model::{ApiserverFacts, Declared, EncryptionState, SourceStatus};

/// The key spec ACK requires when nothing else is declared.
pub const DEFAULT_KEY_SPEC: &str = "Aliyun_AES_256";

/// The spec the key must have: the declared one, else [`DEFAULT_KEY_SPEC`].
pub fn required_key_spec(declared: Option<&Declared>) -> &str {
    declared
        .map(|d| d.required_key_spec.as_str())
        .filter(|s| !s.is_empty())
        .unwrap_or(DEFAULT_KEY_SPEC)
}

/// Everything in `state` that needs attention (warn or fail), by part: declared, key,
/// apiserver, plugin, the sources' freshness, rewrite.
pub fn findings(state: &EncryptionState) -> Vec<Finding> {
    let declared = state.declared.as_ref();
    let mut out = Vec::new();
    if declared.is_none() {
        out.push(not_declared(state));
    }
    let key = state.key.as_ref().filter(|k| k.is_of_declared(declared));
    if let (Some(stale), Some(d)) = (state.key.as_ref().filter(|_| key.is_none()), declared) {
        out.push(
            Finding::new(
                Level::Fail,
                "key",
                sources::FRESH,
                "OtherKeyFacts",
                format!(
                    "the KMS facts are for key {} but key {} is declared: the declared key's \
                     state is not known yet",
                    stale.requested, d.key
                ),
            )
            .fix(format!(
                "retry in a few seconds; if it persists check that the webhook may DescribeKey {}",
                d.key
            )),
        );
    }
    if let Some(key) = key {
        let region = declared.and_then(|d| d.region.as_deref());
        out.extend(
            key_checks(key, region, required_key_spec(declared))
                .into_iter()
                .filter(|c| c.level >= Level::Warn)
                .map(|mut c| {
                    c.message = format!("key {}: {}", key.key_id, c.message);
                    c
                }),
        );
    } else if let Some(d) = declared
        && source(state, "kms").is_none()
    {
        out.push(
            Finding::new(
                Level::Warn,
                "key",
                "observed",
                "NotObserved",
                format!(
                    "the state of key {} is not checked: nothing queries the KMS",
                    d.key
                ),
            )
            .fix("give the webhook KMS access (provider alibaba-kms)"),
        );
    }
    if let Some(a) = &state.apiserver {
        out.extend(writers(a, declared));
        if !a.kms_configured {
            out.push(
                Finding::new(
                    Level::Fail,
                    "apiserver",
                    "kms-provider",
                    conditions::NO_KMS_PROVIDER,
                    format!(
                        "the kube-apiserver has no KMS provider ({}): new Secrets are stored in plaintext",
                        one_line(&a.detail)
                    ),
                )
                .fix(
                    "add a kms provider first in the apiserver's EncryptionConfiguration (on ACK: \
                     enable Secret encryption in the cluster's console)",
                ),
            );
        } else if !a.kms_healthy {
            out.push(
                Finding::new(
                    Level::Fail,
                    "apiserver",
                    "kms-provider",
                    "Unhealthy",
                    format!("KMS provider unhealthy: {}", one_line(&a.detail)),
                )
                .fix(
                    "check the KMS plugin and the key's state: kubectl get --raw '/readyz?verbose'",
                ),
            );
        }
    }
    if let Some(p) = &state.plugin
        && !p.healthz.eq_ignore_ascii_case("ok")
    {
        out.push(
            Finding::new(
                Level::Fail,
                "plugin",
                "healthz",
                "PluginUnhealthy",
                format!(
                    "the KMS v2 plugin reports healthz {:?}",
                    one_line(&p.healthz)
                ),
            )
            .fix("check the plugin's logs and its access to the KMS key"),
        );
    }
    out.extend(sources::freshness(state, declared));
    if let Some(r) = &state.rewrite
        && r.done < r.total
    {
        out.push(
            Finding::new(
                Level::Warn,
                "rewrite",
                "rewritten",
                "RewritePending",
                format!(
                    "{} of {} Secrets not rewritten since the rotation at {}",
                    r.total - r.done,
                    r.total,
                    r.target
                ),
            )
            .fix("kubectl secretkms rewrite -A"),
        );
    }
    out
}

/// The apiservers that write Secrets under a provider that is not KMS, as the secret-write
/// guard denies them.
fn writers<'a>(
    a: &'a ApiserverFacts,
    declared: Option<&'a Declared>,
) -> impl Iterator<Item = Finding> + 'a {
    a.secret_writers
        .iter()
        .filter(move |w| declared.is_some() && !w.is_kms())
        .map(|w| {
            let who = if w.apiserver.is_empty() {
                "the kube-apiserver".to_string()
            } else {
                format!("kube-apiserver {}", w.apiserver)
            };
            let (reason, consequence) = if w.prefix.is_empty() {
                (
                    conditions::PLAINTEXT_WRITES,
                    "new Secrets are stored in plaintext",
                )
            } else {
                (
                    conditions::NON_KMS_WRITES,
                    "new Secrets are encrypted with a local key, not the KMS key",
                )
            };
            Finding::new(
                Level::Fail,
                "apiserver",
                "first-provider",
                reason,
                format!("{who} writes Secrets with {}: {consequence}", w.provider()),
            )
            .fix(
                "put the kms provider first for secrets in the apiserver's \
                 EncryptionConfiguration (keep the old one after it) and restart the apiserver",
            )
        })
}

/// No SecretEncryption: nothing is enforced, and why. A declaration that was never read fails:
/// the guard denies then, since whether encryption is required is unknown.
fn not_declared(state: &EncryptionState) -> Finding {
    let declared = source(state, "declared");
    match declared.and_then(|s| s.last_error.as_deref()) {
        Some(e) if declared.is_some_and(|s| s.age_seconds.is_none()) => Finding::new(
            Level::Fail,
            "declared",
            "declared",
            "DeclaredUnreadable",
            format!(
                "SecretEncryption/cluster has never been read ({e}): whether Secret encryption \
                 is required is unknown, so the guard denies Secret writes"
            ),
        )
        .fix("install the secretkms CRD and allow get, list and watch on secretencryptions.secretkms.io"),
        Some(e) => Finding::new(
            Level::Warn,
            "declared",
            "declared",
            "DeclaredUnreadable",
            format!("cannot read SecretEncryption/cluster: {e}"),
        )
        .fix("allow get on secretencryptions.secretkms.io"),
        None => Finding::new(
            Level::Warn,
            "declared",
            "declared",
            "NotDeclared",
            "no SecretEncryption named cluster: secretkms enforces nothing",
        )
        .fix("create one (kubectl secretkms status prints one to start from)"),
    }
}

/// The freshness of the source called `name`, if it is configured.
fn source<'a>(state: &'a EncryptionState, name: &str) -> Option<&'a SourceStatus> {
    state.sources.iter().find(|s| s.name == name)
}

/// `text` on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
