//! The plugin installed by krew itself (built from the Go module proxy by
//! `hack/control-plane-bins.sh krew`, cached): the archive packaged as `packaging/krew` describes
//! it (`hack/krew-package.sh`), the manifest checked by krew's own `validate-krew-manifest`, then
//! `kubectl krew install --manifest=... --archive=...` into a throwaway KREW_ROOT, and
//! `kubectl secretkms --help` run from there. Nothing leaves the machine: the archive is given,
//! krew's upgrade check is off, and the validator's own install step (which downloads the
//! manifest's URI) is skipped in favour of the install above.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use secretkms_e2e::{Binaries, Tool, repo_root};

const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-plugin-e2e");
const COMPLETE: &str = env!("CARGO_BIN_EXE_kubectl_complete-secretkms-e2e");

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn validate(manifest: &Path) -> Output {
    Command::new(Tool::Krew.bin("validate-krew-manifest").unwrap())
        .args(["-skip-install", "-manifest"])
        .arg(manifest)
        .output()
        .unwrap()
}

/// `hack/krew-package.sh` for this machine's platform: (archive, manifest with its sha256).
fn package(out: &Path) -> (PathBuf, PathBuf) {
    let run = Command::new("bash")
        .arg(repo_root().join("hack/krew-package.sh"))
        .args(["--plugin", PLUGIN, "--complete", COMPLETE, "--os", "linux"])
        .args(["--arch", krew_arch()])
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(run.status.success(), "krew-package.sh: {}", text(&run));
    let stdout = String::from_utf8(run.stdout).unwrap();
    let mut lines = stdout.lines();
    let archive = PathBuf::from(lines.next().unwrap());
    let manifest = PathBuf::from(lines.next().unwrap());
    (archive, manifest)
}

fn krew_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("the krew manifest has no entry for {other}"),
    }
}

/// A PATH with krew's bin directory, krew itself (as `kubectl-krew`) and kubectl, nothing else
/// of this machine's but the basics.
fn path_with(krew_root: &Path, extra: &[&Path]) -> String {
    let kubectl_dir = Binaries::get().unwrap().dir;
    let mut dirs: Vec<PathBuf> = vec![krew_root.join("bin")];
    dirs.extend(extra.iter().map(|p| p.to_path_buf()));
    dirs.push(Tool::Krew.dir().unwrap());
    dirs.push(kubectl_dir);
    dirs.push("/usr/bin".into());
    dirs.push("/bin".into());
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

fn kubectl(krew_root: &Path, path: &str, args: &[&str]) -> Output {
    Command::new(Binaries::get().unwrap().kubectl())
        .args(args)
        .env_clear()
        .env("PATH", path)
        .env("HOME", krew_root)
        .env("KREW_ROOT", krew_root)
        .env("KREW_NO_UPGRADE_CHECK", "1")
        .env("KREW_OS", "linux")
        .env("KREW_ARCH", krew_arch())
        // No cluster is needed: --help and completion never call one.
        .env("KUBECONFIG", krew_root.join("no-kubeconfig"))
        .output()
        .unwrap()
}

#[test]
fn the_checked_in_manifest_passes_krews_validator() {
    let manifest = repo_root().join("packaging/krew/secretkms.yaml");
    let out = validate(&manifest);
    assert!(
        out.status.success(),
        "validate-krew-manifest: {}",
        text(&out)
    );
}

#[test]
fn krew_installs_the_packaged_plugin_and_kubectl_runs_it() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, manifest) = package(&dir.path().join("dist"));
    let out = validate(&manifest);
    assert!(
        out.status.success(),
        "validate-krew-manifest on the packaged manifest: {}",
        text(&out)
    );

    let root = dir.path().join("krew");
    let path = path_with(&root, &[]);
    let manifest_arg = format!("--manifest={}", manifest.display());
    let archive_arg = format!("--archive={}", archive.display());
    let install = kubectl(
        &root,
        &path,
        &["krew", "install", &manifest_arg, &archive_arg],
    );
    assert!(install.status.success(), "krew install: {}", text(&install));
    assert!(
        text(&install).contains("Installed plugin: secretkms"),
        "{}",
        text(&install)
    );

    // krew's receipt of the install (`krew list` and `krew uninstall` read the same, but insist on
    // a plugin index, which only `krew update` from the network would create).
    let receipt = std::fs::read_to_string(root.join("receipts/secretkms.yaml")).unwrap();
    assert!(receipt.contains("name: secretkms"), "{receipt}");
    let plugins = kubectl(&root, &path, &["plugin", "list"]);
    assert!(
        String::from_utf8_lossy(&plugins.stdout)
            .contains(&root.join("bin/kubectl-secretkms").display().to_string()),
        "kubectl plugin list: {}",
        text(&plugins)
    );

    let help = kubectl(&root, &path, &["secretkms", "--help"]);
    assert!(
        help.status.success(),
        "kubectl secretkms --help: {}",
        text(&help)
    );
    let help_text = String::from_utf8_lossy(&help.stdout);
    for command in ["status", "rewrite", "key", "policy"] {
        assert!(
            help_text.contains(command),
            "--help names {command}: {help_text}"
        );
    }

    // What the validator checks after its own install: a LICENSE came out of the archive.
    let store = root.join("store/secretkms/v0.1.0");
    for file in ["kubectl-secretkms", "kubectl_complete-secretkms", "LICENSE"] {
        assert!(
            store.join(file).is_file(),
            "{} is installed",
            store.join(file).display()
        );
    }

    // krew links only the manifest's `bin`; kubectl finds the completion executable on PATH,
    // so completion works once the store directory is on PATH (the manifest's caveats say so).
    let completed = kubectl(
        &root,
        &path_with(&root, &[&store]),
        &["__complete", "secretkms", "re"],
    );
    assert!(
        String::from_utf8_lossy(&completed.stdout)
            .lines()
            .any(|l| l.split('\t').next() == Some("rewrite")),
        "kubectl __complete secretkms re: {}",
        text(&completed)
    );
}

/// krew refuses an archive whose digest is not the manifest's: the checked-in manifest's
/// placeholder digest must be replaced at release time.
#[test]
fn krew_refuses_the_archive_against_the_placeholder_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (archive, _) = package(&dir.path().join("dist"));
    let root = dir.path().join("krew");
    let path = path_with(&root, &[]);
    let manifest_arg = format!(
        "--manifest={}",
        repo_root().join("packaging/krew/secretkms.yaml").display()
    );
    let archive_arg = format!("--archive={}", archive.display());
    let install = kubectl(
        &root,
        &path,
        &["krew", "install", &manifest_arg, &archive_arg],
    );
    assert!(!install.status.success(), "{}", text(&install));
    assert!(
        text(&install).contains("checksum does not match"),
        "{}",
        text(&install)
    );
}
