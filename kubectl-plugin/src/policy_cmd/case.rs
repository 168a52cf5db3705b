//! One test case folder (`request.json`, `state.json`, optional `settings.json` and `keys.json`,
//! `expected.json`), the format `policies/README.md` documents and the policy kit's own
//! `run_cases` reads.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use secretkms_core::policy::{FixedKeyLookup, Verdict};
use secretkms_core::state::EncryptionState;
use serde::{Deserialize, Serialize};

/// What a case expects of the verdict; every present field must hold.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Expected {
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings_contain: Vec<String>,
}

/// A loaded case.
#[derive(Debug)]
pub struct Case {
    pub name: String,
    pub dir: PathBuf,
    pub request: String,
    pub state: EncryptionState,
    pub settings: serde_json::Value,
    pub keys: FixedKeyLookup,
    pub expected: Expected,
}

impl Case {
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let read = |file: &str| {
            let path = dir.join(file);
            std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))
        };
        let optional = |file: &str| dir.join(file).exists().then(|| read(file)).transpose();
        let at = |file: &str| format!("invalid {}", dir.join(file).display());
        let request = request_object(&read("request.json")?).with_context(|| at("request.json"))?;
        let state = serde_json::from_str(&read("state.json")?).with_context(|| at("state.json"))?;
        let settings = match optional("settings.json")? {
            Some(text) => serde_json::from_str(&text).with_context(|| at("settings.json"))?,
            None => serde_json::Value::Null,
        };
        let keys = match optional("keys.json")? {
            Some(text) => FixedKeyLookup::from_json(&text).with_context(|| at("keys.json"))?,
            None => FixedKeyLookup::default(),
        };
        let expected =
            serde_json::from_str(&read("expected.json")?).with_context(|| at("expected.json"))?;
        Ok(Self {
            name: dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir: dir.to_path_buf(),
            request,
            state,
            settings,
            keys,
            expected,
        })
    }

    /// Every mismatch between `verdict` and the expectation.
    pub fn mismatches(&self, verdict: &Verdict) -> Vec<String> {
        let e = &self.expected;
        let mut problems = Vec::new();
        if verdict.allowed != e.allowed {
            problems.push(format!(
                "allowed is {}, expected {}",
                verdict.allowed, e.allowed
            ));
        }
        if let Some(code) = e.code
            && !verdict.allowed
            && verdict.code != code
        {
            problems.push(format!("code is {}, expected {code}", verdict.code));
        }
        if let Some(needle) = &e.message_contains
            && !verdict.message.contains(needle.as_str())
        {
            problems.push(format!("message does not contain {needle:?}"));
        }
        for needle in &e.warnings_contain {
            if !verdict.warnings.iter().any(|w| w.contains(needle.as_str())) {
                problems.push(format!("no warning contains {needle:?}"));
            }
        }
        problems
    }
}

/// The case folders under `dir`: `dir` itself if it is one, else its sub-folders (or those of
/// `dir/cases`), sorted by name.
pub fn case_dirs(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.join("request.json").exists() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let root = if dir.join("cases").is_dir() {
        dir.join("cases")
    } else {
        dir.to_path_buf()
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .with_context(|| format!("cannot list {}", root.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("request.json").exists())
        .collect();
    dirs.sort();
    anyhow::ensure!(
        !dirs.is_empty(),
        "no case folders (with a request.json) under {}",
        root.display()
    );
    Ok(dirs)
}

/// Accepts the AdmissionRequest itself or a whole AdmissionReview, returning the request's text.
pub fn request_object(text: &str) -> anyhow::Result<String> {
    let value: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    match value.get("request") {
        Some(request) if value.get("kind").and_then(|k| k.as_str()) == Some("AdmissionReview") => {
            Ok(request.to_string())
        }
        _ => Ok(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_review_or_its_request_both_work() {
        let review = r#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"1"}}"#;
        assert_eq!(request_object(review).unwrap(), r#"{"uid":"1"}"#);
        assert_eq!(request_object(r#"{"uid":"1"}"#).unwrap(), r#"{"uid":"1"}"#);
        assert!(request_object("{").is_err());
    }
}
