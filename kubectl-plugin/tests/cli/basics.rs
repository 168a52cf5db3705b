//! Usage, exit codes and completion: the kubectl plugin conventions.

use super::*;

#[test]
fn usage_reads_as_kubectl_secretkms() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(
        text.contains("Usage: kubectl secretkms [OPTIONS] <COMMAND>"),
        "{text}"
    );
    assert!(
        text.contains("2  error: bad usage"),
        "exit codes are documented: {text}"
    );
    for flag in [
        "--kubeconfig",
        "--context",
        "--namespace",
        "--all-namespaces",
        "--selector",
        "--output",
        "--request-timeout",
    ] {
        assert!(text.contains(flag), "{flag} missing: {text}");
    }
}

#[test]
fn bad_usage_exits_2() {
    let out = run(&["rewrite", "--concurrency", "many"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("many"));
}

#[test]
fn an_unreachable_cluster_is_an_error_not_a_finding() {
    let out = run(&[
        "rewrite",
        "-A",
        "--time",
        "20260101-000000",
        "--kubeconfig",
        "/nonexistent/kc",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/kc"), "{}", stderr(&out));
}

#[test]
fn kubectl_plugin_completion_speaks_cobra() {
    let shim = Path::new(bin()).with_file_name("kubectl_complete-secretkms");
    let out = std::process::Command::new(&shim)
        .args(["rewrite", "--mo"])
        .output()
        .expect("the completion shim runs");
    assert_eq!(stdout(&out), "--mode\n:4\n");
    let out = std::process::Command::new(&shim)
        .args(["key", ""])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "check\nprotect\n:4\n");
}

#[test]
fn completion_scripts_for_shells() {
    let out = run(&["completion", "bash"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("kubectl-secretkms"));
}

#[test]
fn a_missing_kubeconfig_names_the_os_error_once() {
    let out = run(&["status", "--kubeconfig", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("(os error 2)").count(), 1, "{err}");
    golden("error-missing-kubeconfig.txt", &err);
}
