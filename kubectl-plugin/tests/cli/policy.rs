//! `policy test` over the shipped cases and `policy run` on one, with the builtin components.

use super::*;

#[test]
fn every_shipped_case_passes_with_the_builtin_components() {
    for policy in ["secret-write-guard", "key-change-guard"] {
        let dir = repo_root().join("policies").join(policy).join("cases");
        let out = run(&["policy", "test", dir.to_str().unwrap()]);
        let text = stdout(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{policy}: {text}{}",
            stderr(&out)
        );
        assert!(text.contains(&format!("builtin:{policy}: ")), "{text}");
        assert!(text.contains(" 0 failed"), "{text}");
        golden(&format!("policy-test-{policy}.txt"), &text);
    }
}

#[test]
fn a_failing_case_is_reported_and_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let src = repo_root().join("policies/secret-write-guard/cases/deny-key-disabled");
    let case = tmp
        .path()
        .join("secret-write-guard")
        .join("expects-allow-wrongly");
    std::fs::create_dir_all(&case).unwrap();
    for f in ["request.json", "state.json"] {
        std::fs::copy(src.join(f), case.join(f)).unwrap();
    }
    std::fs::write(case.join("expected.json"), r#"{"allowed": true}"#).unwrap();
    let out = run(&[
        "policy",
        "test",
        case.parent().unwrap().to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(
        report["cases"][0]["problems"][0],
        "allowed is false, expected true"
    );
}

#[test]
fn policy_run_prints_the_verdict() {
    let case = repo_root().join("policies/secret-write-guard/cases/deny-key-disabled");
    let out = run(&[
        "policy",
        "run",
        "--policy",
        "builtin:secret-write-guard",
        "--request",
        case.join("request.json").to_str().unwrap(),
        "--state",
        case.join("state.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "a denial is a finding");
    let text = stdout(&out);
    assert!(
        text.starts_with("DENIED by builtin:secret-write-guard ("),
        "{text}"
    );
    assert!(text.contains("  code: 403\n"), "{text}");
    assert!(
        text.contains("aliyun kms EnableKey --KeyId key-hzz6c1b9e6d1wyd3b5kzi"),
        "{text}"
    );
}

#[test]
fn cases_without_a_policy_name_need_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&["policy", "test", tmp.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--policy"), "{}", stderr(&out));
}
