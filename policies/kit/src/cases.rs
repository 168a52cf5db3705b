//! Loads and runs `cases/<name>/` folders, the test-case format shared with
//! `kubectl secretkms policy test` (see `policies/README.md`): `request.json`, `state.json`,
//! optional `settings.json` and `keys.json`, and `expected.json`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::state_json::{parse_key_facts, parse_state};
use crate::{EncryptionState, FakeKeys, Policy, Verdict, evaluate};

/// What a case expects of the verdict. Every present field must hold.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expected {
    pub allowed: bool,
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message_contains: Option<String>,
    /// Each entry must be a substring of at least one warning.
    #[serde(default)]
    pub warnings_contain: Vec<String>,
}

/// One loaded case.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub request: String,
    pub state: EncryptionState,
    pub settings: String,
    pub keys: FakeKeys,
    pub expected: Expected,
}

fn read(dir: &Path, file: &str) -> Result<String, String> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn read_optional(dir: &Path, file: &str) -> Result<Option<String>, String> {
    if dir.join(file).exists() {
        read(dir, file).map(Some)
    } else {
        Ok(None)
    }
}

impl Case {
    /// Loads the case in `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let at = |file: &str, e: &dyn std::fmt::Display| format!("{}/{file}: {e}", dir.display());
        let request = read(dir, "request.json")?;
        let state = parse_state(&read(dir, "state.json")?).map_err(|e| at("state.json", &e))?;
        let settings = read_optional(dir, "settings.json")?.unwrap_or_default();
        let mut keys = FakeKeys::new();
        if let Some(text) = read_optional(dir, "keys.json")? {
            let map: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(&text).map_err(|e| at("keys.json", &e))?;
            for (key, value) in map {
                let facts = parse_key_facts(value).map_err(|e| at("keys.json", &e))?;
                keys = keys.with(key, facts);
            }
        }
        let expected = serde_json::from_str(&read(dir, "expected.json")?)
            .map_err(|e| at("expected.json", &e))?;
        Ok(Self {
            name,
            dir: dir.to_path_buf(),
            request,
            state,
            settings,
            keys,
            expected,
        })
    }

    /// Evaluates the case with policy `P`.
    pub fn run<P: Policy>(&self) -> Verdict {
        evaluate::<P>(&self.request, &self.state, &self.settings, &self.keys)
    }

    /// Compares a verdict with the expectation; Err lists every mismatch.
    pub fn check(&self, v: &Verdict) -> Result<(), String> {
        let e = &self.expected;
        let mut problems = Vec::new();
        if v.allowed != e.allowed {
            problems.push(format!("allowed is {}, expected {}", v.allowed, e.allowed));
        }
        if let Some(code) = e.code
            && !v.allowed
            && v.code != code
        {
            problems.push(format!("code is {}, expected {code}", v.code));
        }
        if let Some(needle) = &e.message_contains
            && !v.message.contains(needle.as_str())
        {
            problems.push(format!("message does not contain {needle:?}"));
        }
        for needle in &e.warnings_contain {
            if !v.warnings.iter().any(|w| w.contains(needle.as_str())) {
                problems.push(format!("no warning contains {needle:?}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "case {}: {}\n  message: {}\n  warnings: {:?}",
                self.name,
                problems.join("; "),
                v.message,
                v.warnings
            ))
        }
    }
}

/// Loads every case folder under `dir`, sorted by name.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, String> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs.iter().map(|d| Case::load(d)).collect()
}

/// Runs every case under `dir` with policy `P`; returns one line per failing case.
pub fn run_cases<P: Policy>(dir: &Path) -> Result<usize, Vec<String>> {
    let cases = load_cases(dir).map_err(|e| vec![e])?;
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| c.check(&c.run::<P>()).err())
        .collect();
    if failures.is_empty() {
        Ok(cases.len())
    } else {
        Err(failures)
    }
}
