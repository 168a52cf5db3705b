//! Where the control-plane binaries and the other upstream tools (promtool, krew) come from:
//! `hack/control-plane-bins.sh`, which builds them from the Go module proxy once and caches them
//! outside the clone. The script is the single place that names versions; the harness only asks
//! it for the directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::error::{HarnessError, Result};

/// The directory holding `kube-apiserver`, `kubectl`, `etcd`, `etcdctl` (and `helm`).
#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    /// Finds the binaries: `SECRETKMS_BIN_DIR` if set, otherwise whatever the build script
    /// prints (building first if the cache is cold). Cached per process.
    pub fn get() -> Result<Self> {
        static DIR: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
        DIR.get_or_init(|| locate().map_err(|e| e.to_string()))
            .clone()
            .map(|dir| Self { dir })
            .map_err(HarnessError::Binaries)
    }

    pub fn kube_apiserver(&self) -> PathBuf {
        self.dir.join("kube-apiserver")
    }
    pub fn kubectl(&self) -> PathBuf {
        self.dir.join("kubectl")
    }
    pub fn etcd(&self) -> PathBuf {
        self.dir.join("etcd")
    }
    pub fn etcdctl(&self) -> PathBuf {
        self.dir.join("etcdctl")
    }
    pub fn helm(&self) -> PathBuf {
        self.dir.join("helm")
    }
}

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e crate lives one level below the repository root")
        .to_path_buf()
}

/// An upstream tool the tests run besides the control plane, cached in its own directory by
/// `hack/control-plane-bins.sh` (its component name is the tool's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `promtool`, which checks and unit-tests the chart's alerting rules.
    Promtool,
    /// `krew`, `kubectl-krew` (the same binary as a kubectl plugin) and `validate-krew-manifest`.
    Krew,
}

impl Tool {
    fn component(self) -> &'static str {
        match self {
            Self::Promtool => "promtool",
            Self::Krew => "krew",
        }
    }

    /// The variable that names the tool's directory instead of the script.
    pub fn env(self) -> &'static str {
        match self {
            Self::Promtool => "SECRETKMS_PROMTOOL_DIR",
            Self::Krew => "SECRETKMS_KREW_DIR",
        }
    }

    /// The tool's directory: its variable if set, otherwise what the build script prints
    /// (building first if the cache is cold, which takes minutes). Cached per process.
    pub fn dir(self) -> Result<PathBuf> {
        static DIRS: [OnceLock<std::result::Result<PathBuf, String>>; 2] =
            [OnceLock::new(), OnceLock::new()];
        DIRS[self as usize]
            .get_or_init(|| {
                match std::env::var_os(self.env()) {
                    Some(dir) => Ok(PathBuf::from(dir)),
                    None => hack_script_dir("control-plane-bins.sh", &[self.component()]),
                }
                .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(HarnessError::Binaries)
    }

    /// `name` (one of the tool's executables) in the tool's directory.
    pub fn bin(self, name: &str) -> Result<PathBuf> {
        Ok(self.dir()?.join(name))
    }
}

fn locate() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SECRETKMS_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    hack_script_dir("control-plane-bins.sh", &["kube", "etcd"])
}

/// Runs `hack/<script> args...` (one of the scripts that install or build something into the
/// cache and print its directory last) and returns that directory; a failure carries the
/// script's last lines.
pub fn hack_script_dir(script: &str, args: &[&str]) -> Result<PathBuf> {
    let script = repo_root().join("hack").join(script);
    let out = Command::new("bash")
        .arg(&script)
        .args(args)
        .output()
        .map_err(HarnessError::io(format!("running {}", script.display())))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(HarnessError::Binaries(format!(
            "{} exited with {}:\n{}",
            script.display(),
            out.status,
            tail.join("\n")
        )));
    }
    let dir = stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            HarnessError::Binaries(format!("{} printed no directory", script.display()))
        })?;
    Ok(PathBuf::from(dir))
}
