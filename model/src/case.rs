//! The policy test-case format (`policies/README.md`), read by the policy kit's native test
//! runner and by `kubectl secretkms policy test` alike: a case is a folder with `request.json`
//! (an AdmissionRequest or a whole AdmissionReview), `state.json` (an [`EncryptionState`]),
//! optional `settings.json` and `keys.json` (see [`CannedKeys::from_json`]), and `expected.json`
//! (see [`Expected`]).

mod expected;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::value::RawValue;

pub use expected::{Answer, CaseFailure, Expected};

use crate::{CannedKeys, EncryptionState};

/// Errors loading cases; each names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum CaseError {
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot list {}", path.display())]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no case folders under {}", path.display())]
    NoCases { path: PathBuf },
}

/// One loaded case.
#[derive(Debug, Clone)]
pub struct Case {
    /// The folder's name.
    pub name: String,
    pub dir: PathBuf,
    /// The AdmissionRequest's JSON text (taken out of an AdmissionReview if need be).
    pub request: String,
    pub state: EncryptionState,
    /// `settings.json`, or `null` (the policy's defaults) when there is none.
    pub settings: serde_json::Value,
    pub keys: CannedKeys,
    pub expected: Expected,
}

impl Case {
    /// Loads the case in folder `dir`.
    pub fn load(dir: &Path) -> Result<Self, CaseError> {
        let file = |name: &str| dir.join(name);
        let parse = |name: &str, source| CaseError::Parse {
            path: file(name),
            source,
        };
        let request =
            request_object(&read(&file("request.json"))?).map_err(|e| parse("request.json", e))?;
        let state = serde_json::from_str(&read(&file("state.json"))?)
            .map_err(|e| parse("state.json", e))?;
        let settings = match read_optional(&file("settings.json"))? {
            Some(text) => serde_json::from_str(&text).map_err(|e| parse("settings.json", e))?,
            None => serde_json::Value::Null,
        };
        let keys = match read_optional(&file("keys.json"))? {
            Some(text) => CannedKeys::from_json(&text).map_err(|e| parse("keys.json", e))?,
            None => CannedKeys::new(),
        };
        let expected = serde_json::from_str(&read(&file("expected.json"))?)
            .map_err(|e| parse("expected.json", e))?;
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

    /// Compares a policy's answer with the expectation; the failure lists every mismatch.
    pub fn check(&self, answer: &Answer<'_>) -> Result<(), CaseFailure> {
        let problems = self.expected.mismatches(answer);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CaseFailure {
                case: self.name.clone(),
                problems,
                message: answer.message.to_owned(),
                warnings: answer.warnings.to_vec(),
            })
        }
    }
}

/// The case folders `dir` stands for, sorted by name: `dir` itself when it holds a
/// `request.json`; else every sub-folder of `dir/cases` when that exists (a policy's folder),
/// else of `dir`. Every such sub-folder is a case, so one missing a file fails to load instead of
/// being skipped.
pub fn case_dirs(dir: &Path) -> Result<Vec<PathBuf>, CaseError> {
    if dir.join("request.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let root = match dir.join("cases") {
        cases if cases.is_dir() => cases,
        _ => dir.to_path_buf(),
    };
    let list = |source| CaseError::List {
        path: root.clone(),
        source,
    };
    let mut dirs = Vec::new();
    for entry in fs::read_dir(&root).map_err(list)? {
        let path = entry.map_err(list)?.path();
        if path.is_dir() {
            dirs.push(path);
        }
    }
    if dirs.is_empty() {
        return Err(CaseError::NoCases { path: root });
    }
    dirs.sort();
    Ok(dirs)
}

/// Loads every case [`case_dirs`] finds under `dir`.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, CaseError> {
    case_dirs(dir)?.iter().map(|d| Case::load(d)).collect()
}

/// The AdmissionRequest's JSON text from `text`, which holds either the request itself or a whole
/// AdmissionReview (`{"kind": "AdmissionReview", "request": {...}}`), as `kubectl get --raw` or
/// an apiserver's audit log shows it. The request's text is kept as written.
pub fn request_object(text: &str) -> Result<String, serde_json::Error> {
    /// A request's own `kind` is an object (its group, version and kind), a review's a string.
    #[derive(Deserialize)]
    struct Head<'a> {
        #[serde(default)]
        kind: serde_json::Value,
        #[serde(default, borrow)]
        request: Option<&'a RawValue>,
    }
    let head: Head<'_> = serde_json::from_str(text)?;
    Ok(match head.request {
        Some(request) if head.kind == "AdmissionReview" => request.get().to_owned(),
        _ => text.to_owned(),
    })
}

fn read(path: &Path) -> Result<String, CaseError> {
    fs::read_to_string(path).map_err(|source| CaseError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn read_optional(path: &Path) -> Result<Option<String>, CaseError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CaseError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyState;

    const REQUEST: &str =
        r#"{"uid":"1","kind":{"group":"","version":"v1","kind":"Secret"},"operation":"CREATE"}"#;

    fn write_case(dir: &Path, files: &[(&str, &str)]) {
        fs::create_dir_all(dir).unwrap();
        for (name, text) in files {
            fs::write(dir.join(name), text).unwrap();
        }
    }

    fn minimal(dir: &Path) {
        write_case(
            dir,
            &[
                ("request.json", REQUEST),
                ("state.json", r#"{"declared":{"key":"alias/k8s"},"now":5}"#),
                ("expected.json", r#"{"allowed":true}"#),
            ],
        );
    }

    #[test]
    fn a_review_or_its_request_both_work() {
        let review = format!(
            r#"{{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{REQUEST}}}"#
        );
        assert_eq!(request_object(&review).unwrap(), REQUEST);
        assert_eq!(request_object(REQUEST).unwrap(), REQUEST);
        // A request's own `kind` is an object, never "AdmissionReview".
        let odd = r#"{"kind":"Other","request":{"uid":"2"}}"#;
        assert_eq!(request_object(odd).unwrap(), odd);
        assert!(request_object("{").is_err());
    }

    #[test]
    fn a_case_loads_with_defaults_for_its_optional_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("allow-something");
        minimal(&dir);
        let case = Case::load(&dir).unwrap();
        assert_eq!(case.name, "allow-something");
        assert_eq!(case.request, REQUEST);
        assert_eq!(
            case.state.declared.unwrap().required_key_spec,
            "Aliyun_AES_256"
        );
        assert_eq!(case.settings, serde_json::Value::Null);
        assert_eq!(case.keys, CannedKeys::new());
        assert!(case.expected.allowed);
    }

    #[test]
    fn keys_settings_and_a_whole_review_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        minimal(&dir);
        let review = format!(r#"{{"kind":"AdmissionReview","request":{REQUEST}}}"#);
        write_case(
            &dir,
            &[
                ("request.json", &review),
                ("settings.json", r#"{"allowedRegions":["cn-hangzhou"]}"#),
                (
                    "keys.json",
                    r#"{"alias/k8s":{"keyId":"key-1","state":"Enabled"}}"#,
                ),
            ],
        );
        let case = Case::load(&dir).unwrap();
        assert_eq!(case.request, REQUEST);
        assert_eq!(case.settings["allowedRegions"][0], "cn-hangzhou");
        assert_eq!(case.keys.lookup("key-1").unwrap().state, KeyState::Enabled);
    }

    #[test]
    fn load_errors_name_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("c");
        minimal(&dir);
        write_case(&dir, &[("expected.json", r#"{"allowed":"yes"}"#)]);
        let err = Case::load(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid {}", dir.join("expected.json").display())
        );
        fs::remove_file(dir.join("state.json")).unwrap();
        let err = Case::load(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("cannot read {}", dir.join("state.json").display())
        );
    }

    #[test]
    fn folders_are_found_by_one_rule() {
        let tmp = tempfile::tempdir().unwrap();
        let policy = tmp.path().join("my-policy");
        minimal(&policy.join("cases/b"));
        minimal(&policy.join("cases/a"));
        fs::write(policy.join("cases/README.md"), "notes").unwrap();
        let cases = policy.join("cases");
        let expected = vec![cases.join("a"), cases.join("b")];
        assert_eq!(case_dirs(&policy).unwrap(), expected, "a policy folder");
        assert_eq!(case_dirs(&cases).unwrap(), expected, "a folder of cases");
        assert_eq!(
            case_dirs(&cases.join("a")).unwrap(),
            [cases.join("a")],
            "one case"
        );

        // A sub-folder without request.json is a broken case, not something to skip.
        fs::create_dir_all(cases.join("c")).unwrap();
        assert_eq!(case_dirs(&cases).unwrap().len(), 3);
        let err = load_cases(&cases).unwrap_err();
        assert!(
            matches!(&err, CaseError::Read { path, .. } if path.ends_with("c/request.json")),
            "{err}"
        );

        let empty = tmp.path().join("empty");
        fs::create_dir_all(&empty).unwrap();
        let err = case_dirs(&empty).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("no case folders under {}", empty.display())
        );
        assert!(matches!(
            case_dirs(&tmp.path().join("missing")),
            Err(CaseError::List { .. })
        ));
    }

    #[test]
    fn check_reports_a_failure_with_the_answer() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("allow-it");
        minimal(&dir);
        let case = Case::load(&dir).unwrap();
        let warnings = vec!["w".to_string()];
        let answer = Answer {
            allowed: false,
            code: 403,
            message: "no",
            warnings: &warnings,
        };
        let failure = case.check(&answer).unwrap_err();
        assert_eq!(failure.case, "allow-it");
        assert_eq!(failure.problems, ["allowed is false, expected true"]);
        assert_eq!(failure.message, "no");
        assert!(
            case.check(&Answer {
                allowed: true,
                ..answer
            })
            .is_ok()
        );
    }
}
