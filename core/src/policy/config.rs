//! The policy configuration file: which policies run, on which requests, in which mode, with
//! which limits and settings. YAML, strict (`deny_unknown_fields`), checked field by field at load
//! so a typo is refused with the policy's name and the field instead of silently ignored.
//!
//! ```yaml
//! policies:
//!   - name: secret-write-guard
//!     source: builtin:secret-write-guard     # or a path to a .wasm component
//!     rules:                                 # optional for builtins (they bring their own)
//!       - apiGroups: [""]
//!         apiVersions: [v1]
//!         resources: [secrets]
//!         operations: [CREATE, UPDATE]
//!     mode: enforce                          # enforce | audit
//!     failureMode: fail-closed               # fail-closed | fail-open
//!     timeoutMs: 50
//!     memoryLimitBytes: 67108864
//!     settings: {}                           # any YAML, handed to the policy as JSON
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use super::builtin::Builtin;
use super::error::{LoadError, Result};
use super::rule::Rule;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    pub policies: Vec<PolicySpec>,
}

/// One policy and how it is bound and run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PolicySpec {
    /// A DNS label (`[a-z0-9-]`, at most 63 characters): it prefixes audit annotation keys.
    pub name: String,
    pub source: PolicySource,
    /// Which requests the policy sees. Empty means the builtin's own rules; required for files.
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub failure_mode: FailureMode,
    /// Guest time allowed per evaluation (`validate-settings` at load gets at least
    /// [`super::SETTINGS_TIMEOUT_FLOOR`]). Time spent in host calls (`describe-key`) is not
    /// counted: the host bounds its own calls, and a slow KMS must not turn into a policy
    /// "deadline exceeded".
    #[serde(default = "PolicySpec::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Linear memory the guest may grow to.
    #[serde(default = "PolicySpec::default_memory_limit_bytes")]
    pub memory_limit_bytes: u64,
    /// Handed to `validate-settings` at load and to every `validate`, as JSON text. Absent means
    /// `{}`.
    #[serde(default)]
    pub settings: serde_json::Value,
}

impl PolicySpec {
    pub const DEFAULT_TIMEOUT_MS: u64 = 50;
    pub const MAX_TIMEOUT_MS: u64 = 10_000;
    pub const DEFAULT_MEMORY_LIMIT_BYTES: u64 = 64 << 20;
    /// One WebAssembly page: less cannot hold any memory at all.
    pub const MIN_MEMORY_LIMIT_BYTES: u64 = 64 << 10;

    fn default_timeout_ms() -> u64 {
        Self::DEFAULT_TIMEOUT_MS
    }

    fn default_memory_limit_bytes() -> u64 {
        Self::DEFAULT_MEMORY_LIMIT_BYTES
    }

    /// A spec with every optional field at its default, for code and tests
    /// (`PolicySpec { mode: Mode::Audit, ..PolicySpec::new(..) }`).
    pub fn new(name: impl Into<String>, source: PolicySource) -> Self {
        Self {
            name: name.into(),
            source,
            rules: Vec::new(),
            mode: Mode::default(),
            failure_mode: FailureMode::default(),
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            memory_limit_bytes: Self::DEFAULT_MEMORY_LIMIT_BYTES,
            settings: serde_json::Value::Null,
        }
    }

    /// The rules in force: the configured ones, or the builtin's own.
    pub(crate) fn effective_rules(&self) -> Vec<Rule> {
        match (&self.source, self.rules.is_empty()) {
            (PolicySource::Builtin(b), true) => b.default_rules(),
            _ => self.rules.clone(),
        }
    }

    /// The settings as the JSON text policies receive.
    pub(crate) fn settings_json(&self) -> String {
        match &self.settings {
            serde_json::Value::Null => "{}".to_owned(),
            other => other.to_string(),
        }
    }

    /// Checks everything that needs no component; `max_memory_bytes` is the runtime's per-instance
    /// ceiling.
    pub(crate) fn check(&self, max_memory_bytes: u64) -> Result<()> {
        let invalid = |field: String, message: String| LoadError::Invalid {
            policy: self.name.clone(),
            field,
            message,
        };
        if !is_dns_label(&self.name) {
            return Err(invalid(
                "name".into(),
                format!(
                    "invalid name {:?}: expected a DNS label (lowercase letters, digits, '-'; at most 63)",
                    self.name
                ),
            ));
        }
        if !(1..=Self::MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(invalid(
                "timeoutMs".into(),
                format!(
                    "must be between 1 and {}, got {}",
                    Self::MAX_TIMEOUT_MS,
                    self.timeout_ms
                ),
            ));
        }
        if !(Self::MIN_MEMORY_LIMIT_BYTES..=max_memory_bytes).contains(&self.memory_limit_bytes) {
            return Err(invalid(
                "memoryLimitBytes".into(),
                format!(
                    "must be between {} and {max_memory_bytes} (the runtime's per-instance maximum), got {}",
                    Self::MIN_MEMORY_LIMIT_BYTES,
                    self.memory_limit_bytes
                ),
            ));
        }
        if self.rules.is_empty() && !matches!(self.source, PolicySource::Builtin(_)) {
            return Err(invalid(
                "rules".into(),
                "required for a policy that is not builtin".into(),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            rule.check()
                .map_err(|(field, message)| invalid(format!("rules[{i}].{field}"), message))?;
        }
        Ok(())
    }
}

fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// What a denial does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// A denial denies the request.
    #[default]
    Enforce,
    /// A denial (or a fail-closed error) allows the request with a warning and an audit
    /// annotation `<policy>.denied` carrying the message.
    Audit,
}

/// What an errored evaluation (trap, deadline, memory, bad verdict) means for the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureMode {
    /// Deny: a policy that cannot decide must not let a write through.
    #[default]
    FailClosed,
    /// Allow, with a warning naming the failure.
    FailOpen,
}

impl fmt::Display for FailureMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureMode::FailClosed => "fail-closed",
            FailureMode::FailOpen => "fail-open",
        })
    }
}

/// Where a policy's component comes from. In YAML: `builtin:<name>` or a file path (relative
/// paths are resolved against the configuration file's folder).
#[derive(Clone, PartialEq, Eq)]
pub enum PolicySource {
    Builtin(Builtin),
    File(PathBuf),
    /// Component bytes supplied by code (e.g. `policy test` with a freshly built component).
    Bytes(Arc<[u8]>),
}

impl fmt::Debug for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Builtin(b) => write!(f, "Builtin({})", b.source_name()),
            PolicySource::File(p) => write!(f, "File({})", p.display()),
            PolicySource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
        }
    }
}

impl fmt::Display for PolicySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySource::Builtin(b) => f.write_str(b.source_name()),
            PolicySource::File(p) => write!(f, "{}", p.display()),
            PolicySource::Bytes(b) => write!(f, "<{} bytes>", b.len()),
        }
    }
}

impl std::str::FromStr for PolicySource {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if let Some(name) = s.strip_prefix("builtin:") {
            return Builtin::from_name(name)
                .map(PolicySource::Builtin)
                .ok_or_else(|| {
                    let known: Vec<_> = Builtin::ALL.iter().map(|b| b.source_name()).collect();
                    format!(
                        "unknown policy source {s:?} (builtins: {})",
                        known.join(", ")
                    )
                });
        }
        if s.is_empty() {
            return Err("empty policy source: expected builtin:<name> or a file path".to_owned());
        }
        Ok(PolicySource::File(PathBuf::from(s)))
    }
}

impl<'de> Deserialize<'de> for PolicySource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl PolicyConfig {
    /// The embedded defaults: every builtin policy with its own rules, enforcing, fail-closed.
    pub fn builtin() -> Self {
        Self {
            policies: Builtin::ALL
                .iter()
                .map(|b| PolicySpec::new(b.name(), PolicySource::Builtin(*b)))
                .collect(),
        }
    }

    /// Parses YAML; `origin` names the text in errors (a path, `<stdin>`...). Relative file
    /// sources stay relative: see [`PolicyConfig::from_file`].
    pub fn from_yaml(yaml: &str, origin: &str) -> Result<Self> {
        serde_yaml::from_str(yaml).map_err(|e| LoadError::ParseConfig {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
    }

    /// Reads a YAML file, resolving relative file sources against its folder.
    pub fn from_file(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let yaml = std::fs::read_to_string(path).map_err(|source| LoadError::ReadConfig {
            path: shown.clone(),
            source,
        })?;
        let mut config = Self::from_yaml(&yaml, &shown)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for spec in &mut config.policies {
            if let PolicySource::File(p) = &mut spec.source
                && p.is_relative()
            {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Checks every policy's fields and that names are unique, as loading does first (public for
    /// fuzz/fuzz_targets/policy_config.rs).
    pub fn check(&self, max_memory_bytes: u64) -> Result<()> {
        for (i, spec) in self.policies.iter().enumerate() {
            spec.check(max_memory_bytes)?;
            if self.policies[..i]
                .iter()
                .any(|other| other.name == spec.name)
            {
                return Err(LoadError::Invalid {
                    policy: spec.name.clone(),
                    field: "name".into(),
                    message: format!("duplicate policy name {:?}", spec.name),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::rule::Operation;

    const MAX: u64 = 256 << 20;

    fn parse(yaml: &str) -> Result<PolicyConfig> {
        PolicyConfig::from_yaml(yaml, "test.yaml")
    }

    #[test]
    fn full_entry_parses_with_defaults_filled_in() {
        let c = parse(
            "policies:\n\
             - name: guard\n  source: builtin:secret-write-guard\n  mode: audit\n  settings: {exempt: [a, b]}\n\
             - name: custom\n  source: policies/custom.wasm\n  failureMode: fail-open\n  timeoutMs: 20\n  \
               rules: [{apiGroups: [''], apiVersions: [v1], resources: [configmaps], operations: ['*']}]\n",
        )
        .unwrap();
        c.check(MAX).unwrap();
        let guard = &c.policies[0];
        assert_eq!(guard.mode, Mode::Audit);
        assert_eq!(guard.failure_mode, FailureMode::FailClosed);
        assert_eq!(guard.timeout_ms, 50);
        assert_eq!(guard.settings_json(), r#"{"exempt":["a","b"]}"#);
        assert_eq!(
            guard.effective_rules(),
            Builtin::SecretWriteGuard.default_rules()
        );
        let custom = &c.policies[1];
        assert_eq!(
            custom.source,
            PolicySource::File("policies/custom.wasm".into())
        );
        assert_eq!(custom.failure_mode, FailureMode::FailOpen);
        assert_eq!(custom.effective_rules()[0].operations, vec![Operation::All]);
        assert_eq!(custom.settings_json(), "{}");
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let err = parse("policies:\n- name: a\n  source: builtin:key-change-guard\n  timeout: 5\n")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("test.yaml") && msg.contains("timeout"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_builtins_are_refused_with_the_list_of_known_ones() {
        let msg = parse("policies:\n- name: a\n  source: builtin:nope\n")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("builtin:nope") && msg.contains("builtin:secret-write-guard"),
            "{msg}"
        );
    }

    #[test]
    fn bad_values_name_the_policy_and_field() {
        let cases = [
            ("name: Bad_Name\n  source: builtin:key-change-guard", "name"),
            (
                "name: a\n  source: builtin:key-change-guard\n  timeoutMs: 0",
                "timeoutMs",
            ),
            (
                "name: a\n  source: builtin:key-change-guard\n  memoryLimitBytes: 1",
                "memoryLimitBytes",
            ),
            ("name: a\n  source: x.wasm", "rules"),
            (
                "name: a\n  source: x.wasm\n  rules: [{apiGroups: [], apiVersions: [v1], resources: [s], operations: [CREATE]}]",
                "rules[0].apiGroups",
            ),
        ];
        for (entry, field) in cases {
            let c = parse(&format!("policies:\n- {entry}\n")).unwrap();
            match c.check(MAX).unwrap_err() {
                LoadError::Invalid {
                    field: f, policy, ..
                } => {
                    assert_eq!(f, field, "{entry}");
                    assert!(!policy.is_empty());
                }
                other => panic!("{entry}: {other}"),
            }
        }
    }

    #[test]
    fn duplicate_names_are_refused() {
        let c = parse("policies:\n- {name: a, source: 'builtin:key-change-guard'}\n- {name: a, source: 'builtin:secret-write-guard'}\n").unwrap();
        assert!(
            c.check(MAX)
                .unwrap_err()
                .to_string()
                .contains("duplicate policy name")
        );
    }

    #[test]
    fn relative_sources_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.yaml");
        std::fs::write(
            &path,
            "policies:\n- name: a\n  source: p/a.wasm\n  rules: [{apiGroups: ['*'], apiVersions: ['*'], resources: ['*'], operations: ['*']}]\n",
        )
        .unwrap();
        let c = PolicyConfig::from_file(&path).unwrap();
        assert_eq!(
            c.policies[0].source,
            PolicySource::File(dir.path().join("p/a.wasm"))
        );
    }

    #[test]
    fn builtin_config_names_each_default_policy() {
        let c = PolicyConfig::builtin();
        c.check(MAX).unwrap();
        let names: Vec<_> = c.policies.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["secret-write-guard", "key-change-guard"]);
    }
}
