//! Settings that switch the guard off without looking like it: a state file, whose facts
//! override every live source, and a policy configuration in which the secret-write guard does
//! not enforce (absent, in audit mode, or no policies at all, which allows everything). Each is refused at start unless `--allow-weakening` names it,
//! and an allowed one stays visible: in `/readyz`'s body, in the metric
//! `secretkms_guard_weakened`, and so in `kubectl secretkms status`.

use std::fmt;
use std::path::Path;

use secretkms_core::policy::{Builtin, Mode, PolicyConfig, PolicySource};

/// A way the guard is weakened, as `--allow-weakening` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum WeakeningKind {
    /// `--state-file` is set.
    StateFile,
    /// The policy configuration has no enforcing `builtin:secret-write-guard`.
    UnguardedSecretWrites,
}

impl WeakeningKind {
    /// The flag value and metric label.
    pub fn name(self) -> &'static str {
        match self {
            Self::StateFile => "state-file",
            Self::UnguardedSecretWrites => "unguarded-secret-writes",
        }
    }
}

/// One weakening found in the settings, with what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weakening {
    pub kind: WeakeningKind,
    detail: String,
}

impl fmt::Display for Weakening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Every weakening in these settings.
pub fn find(
    state_file: Option<&Path>,
    config: &PolicyConfig,
    config_origin: &str,
) -> Vec<Weakening> {
    let mut out = Vec::new();
    if let Some(path) = state_file {
        out.push(Weakening {
            kind: WeakeningKind::StateFile,
            detail: format!(
                "state file {} overrides the live sources it sets",
                path.display()
            ),
        });
    }
    let guards: Vec<_> = config
        .policies
        .iter()
        .filter(|p| p.source == PolicySource::Builtin(Builtin::SecretWriteGuard))
        .collect();
    let enforcing = guards.iter().any(|p| {
        p.mode == Mode::Enforce
            && p.settings.get("enforcement").and_then(|e| e.as_str()) != Some("audit")
    });
    let detail = if config.policies.is_empty() {
        Some(format!(
            "no policies in {config_origin}: every review is allowed"
        ))
    } else if guards.is_empty() {
        Some(format!(
            "no builtin:secret-write-guard in {config_origin}: Secret writes are not checked \
             against the encryption state"
        ))
    } else if !enforcing {
        Some(format!(
            "builtin:secret-write-guard audits in {config_origin}: Secret writes are only warned \
             about, never denied"
        ))
    } else {
        None
    };
    if let Some(detail) = detail {
        out.push(Weakening {
            kind: WeakeningKind::UnguardedSecretWrites,
            detail,
        });
    }
    out
}

/// Refused when a weakening is not explicitly allowed.
#[derive(Debug, thiserror::Error)]
#[error("{weakening}; this switches the guard off, so it needs --allow-weakening={}", weakening.kind.name())]
pub struct NotAllowed {
    pub weakening: Weakening,
}

/// Fails on the first weakening `allowed` does not name.
pub fn check(found: &[Weakening], allowed: &[WeakeningKind]) -> Result<(), NotAllowed> {
    match found.iter().find(|w| !allowed.contains(&w.kind)) {
        Some(w) => Err(NotAllowed {
            weakening: w.clone(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> PolicyConfig {
        PolicyConfig::from_yaml(yaml, "p.yaml").unwrap()
    }

    fn kinds(found: &[Weakening]) -> Vec<WeakeningKind> {
        found.iter().map(|w| w.kind).collect()
    }

    #[test]
    fn the_defaults_weaken_nothing() {
        assert!(find(None, &PolicyConfig::builtin(), "built-in defaults").is_empty());
    }

    #[test]
    fn each_off_switch_is_found_and_named() {
        let file = find(Some(Path::new("/s.json")), &PolicyConfig::builtin(), "x");
        assert_eq!(kinds(&file), [WeakeningKind::StateFile]);
        assert!(file[0].to_string().contains("/s.json"));

        for (yaml, says) in [
            ("policies: []\n", "every review is allowed"),
            (
                "policies:\n- name: k\n  source: builtin:key-change-guard\n",
                "no builtin:secret-write-guard",
            ),
            (
                "policies:\n- name: g\n  source: builtin:secret-write-guard\n  mode: audit\n",
                "audits",
            ),
            (
                "policies:\n- name: g\n  source: builtin:secret-write-guard\n  settings: {enforcement: audit}\n",
                "audits",
            ),
        ] {
            let found = find(None, &config(yaml), "p.yaml");
            assert_eq!(
                kinds(&found),
                [WeakeningKind::UnguardedSecretWrites],
                "{yaml}"
            );
            assert!(found[0].to_string().contains(says), "{}", found[0]);
        }
    }

    #[test]
    fn only_the_named_weakenings_are_accepted() {
        let found = find(Some(Path::new("/s")), &config("policies: []\n"), "p.yaml");
        let err = check(&found, &[WeakeningKind::StateFile]).unwrap_err();
        assert!(
            err.to_string()
                .contains("--allow-weakening=unguarded-secret-writes"),
            "{err}"
        );
        check(
            &found,
            &[
                WeakeningKind::StateFile,
                WeakeningKind::UnguardedSecretWrites,
            ],
        )
        .unwrap();
    }
}
