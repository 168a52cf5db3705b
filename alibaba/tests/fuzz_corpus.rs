//! The committed corpus of the `alibaba_answers` fuzz target (fuzz/corpus/alibaba_answers/) as a
//! plain regression test: every input goes through `openapi::decode_answer` and the STS and ECS
//! credential parsers with the properties the fuzz target asserts (fuzz/src/lib.rs): the first
//! byte picks the HTTP status, a non-2xx answer never decodes, no error quotes the request's
//! secrets, credentials carry their expiry.

use std::path::Path;

use secretkms_alibaba::openapi::decode_answer;
use secretkms_alibaba::{credentials, kms, sts};

const SECRETS: [&str; 2] = ["AKSECRETfuzz0000", "STSTOKENfuzz1111"];
const STATUSES: [u16; 12] = [200, 204, 206, 299, 400, 403, 404, 409, 429, 500, 503, 302];

fn no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} quotes a secret: {text}");
    }
}

/// Whether `body` decodes as `T` at `status`.
fn answer<T: serde::de::DeserializeOwned>(action: &'static str, status: u16, body: &[u8]) -> bool {
    match decode_answer::<T>("kms", action, status, body, &SECRETS) {
        Ok(_) => {
            assert!(
                (200..300).contains(&status),
                "{action}: http {status} decoded"
            );
            true
        }
        Err(e) => {
            no_secret(action, &e.to_string());
            assert!(
                !(200..300).contains(&status) || !e.is_retryable(),
                "{action}: a 2xx answer is retryable: {e}"
            );
            false
        }
    }
}

#[test]
fn every_corpus_input_decodes_or_fails_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/alibaba_answers");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the committed corpus is missing");
    let (mut typed, mut credentials_parsed, mut refused) = (0, 0, 0);
    let sts_url = url::Url::parse("https://sts.aliyuncs.com/").unwrap();
    let ecs_url =
        url::Url::parse("http://127.0.0.1:1/latest/meta-data/ram/security-credentials/r").unwrap();
    for path in &files {
        let data = std::fs::read(path).unwrap();
        let Some((&pick, body)) = data.split_first() else {
            continue;
        };
        let status = STATUSES[usize::from(pick) % STATUSES.len()];
        answer::<serde_json::Value>("Decrypt", status, body);
        typed += [
            answer::<kms::DescribeKeyResponse>("DescribeKey", status, body),
            answer::<kms::ListKeyVersionsResponse>("ListKeyVersions", status, body),
            answer::<kms::EncryptResponse>("Encrypt", status, body),
            answer::<kms::ListAliasesResponse>("ListAliases", status, body),
            answer::<sts::CallerIdentity>("GetCallerIdentity", status, body),
        ]
        .iter()
        .filter(|ok| **ok)
        .count();
        match credentials::parse_sts_answer("rrsa", "AssumeRole", &sts_url, status, body, &SECRETS)
        {
            Ok(c) => {
                assert!((200..300).contains(&status), "{}", path.display());
                assert!(c.expiration.is_some(), "{}", path.display());
                credentials_parsed += 1;
            }
            Err(e) => {
                no_secret("sts", &e.to_string());
                refused += 1;
            }
        }
        if let Ok(text) = std::str::from_utf8(body)
            && let Ok(c) = credentials::parse_ecs_role_credentials(&ecs_url, "r", text)
        {
            assert!(c.expiration.is_some(), "{}", path.display());
            credentials_parsed += 1;
        }
    }
    // The corpus keeps real answers, not only garbage.
    assert!(typed >= 3, "only {typed} typed answers decode");
    assert!(
        credentials_parsed >= 2,
        "only {credentials_parsed} credentials parse"
    );
    assert!(refused >= 3, "only {refused} answers are refused");
}
