//! Runs `cases/` folders natively against a [`Policy`]: the case format, folder discovery, key
//! answers and mismatch reporting are the model's (`secretkms_model::case`), the same that
//! `kubectl secretkms policy test` applies to the built components.

use std::error::Error;
use std::path::Path;

use secretkms_model::case::{self, Answer, Case, CaseFailure};

use crate::{EncryptionState, Policy, Verdict, evaluate};

/// Evaluates `case` with policy `P`, as the host would: the model's state converted to the WIT
/// types, its settings as JSON text, its canned keys answering `describe-key`.
pub fn run_case<P: Policy>(case: &Case) -> Verdict {
    let state = EncryptionState::from(&case.state);
    evaluate::<P>(
        &case.request,
        &state,
        &case.settings.to_string(),
        &case.keys,
    )
}

/// Evaluates `case` with policy `P` and compares the verdict with its expectation.
pub fn check_case<P: Policy>(case: &Case) -> Result<(), CaseFailure> {
    let v = run_case::<P>(case);
    case.check(&Answer {
        allowed: v.allowed,
        code: v.code,
        message: &v.message,
        warnings: &v.warnings,
    })
}

/// Runs every case under `dir` (found as [`case::case_dirs`] says) with policy `P`: the number of
/// cases when all hold, else one report per failing case (or the load error, with its causes).
pub fn run_cases<P: Policy>(dir: &Path) -> Result<usize, Vec<String>> {
    let cases = case::load_cases(dir).map_err(|e| vec![with_causes(&e)])?;
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check_case::<P>(c).err())
        .map(|f| f.to_string())
        .collect();
    if failures.is_empty() {
        Ok(cases.len())
    } else {
        Err(failures)
    }
}

/// `error: cause: cause`, each once.
fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AdmissionRequest, KeyLookup};

    /// Denies with the declared key's state as looked up through the host.
    struct LooksUpTheDeclaredKey;

    impl Policy for LooksUpTheDeclaredKey {
        type Settings = ();

        fn validate(
            _: &AdmissionRequest<'_>,
            state: &EncryptionState,
            _: &(),
            keys: &dyn KeyLookup,
        ) -> Verdict {
            let key = &state.declared.as_ref().unwrap().key;
            match keys.describe_key(key) {
                Ok(facts) => Verdict::deny(403, facts.state_label().to_owned()),
                Err(e) => Verdict::deny(403, e),
            }
        }
    }

    fn write_case(dir: &Path, key: &str, message: &str) {
        std::fs::create_dir_all(dir).unwrap();
        let review = r#"{"kind":"AdmissionReview","request":{"kind":{"group":"","version":"v1","kind":"Secret"},"operation":"CREATE"}}"#;
        let files = [
            ("request.json", review.to_owned()),
            ("state.json", format!(r#"{{"declared":{{"key":"{key}"}}}}"#)),
            (
                "keys.json",
                r#"{"alias/k8s":{"keyId":"key-1","arn":"acs:kms:cn-hangzhou:1:key/key-1","state":"Disabled"}}"#.to_owned(),
            ),
            (
                "expected.json",
                format!(r#"{{"allowed":false,"messageContains":"{message}"}}"#),
            ),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
    }

    #[test]
    fn cases_run_with_the_model_format() {
        let tmp = tempfile::tempdir().unwrap();
        let tmp = tmp.path();
        write_case(&tmp.join("cases/by-alias"), "alias/k8s", "Disabled");
        write_case(&tmp.join("cases/by-id"), "key-1", "Disabled");
        write_case(
            &tmp.join("cases/by-arn"),
            "acs:kms:cn-hangzhou:1:key/key-1",
            "Disabled",
        );
        write_case(
            &tmp.join("cases/missing"),
            "alias/other",
            "Forbidden.KeyNotFound",
        );
        assert_eq!(run_cases::<LooksUpTheDeclaredKey>(tmp), Ok(4));

        write_case(&tmp.join("cases/wrong"), "key-1", "Enabled");
        let failures = run_cases::<LooksUpTheDeclaredKey>(tmp).unwrap_err();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].starts_with("case wrong: message does not contain \"Enabled\""),
            "{}",
            failures[0]
        );

        std::fs::write(tmp.join("cases/wrong/state.json"), "{").unwrap();
        let failures = run_cases::<LooksUpTheDeclaredKey>(tmp).unwrap_err();
        assert!(
            failures[0].starts_with("invalid ") && failures[0].contains("state.json: EOF"),
            "{failures:?}"
        );
    }
}
