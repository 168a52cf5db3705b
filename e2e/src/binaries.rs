//! Where the control-plane binaries come from: `hack/control-plane-bins.sh`, which builds them
//! from the Go module proxy once and caches them outside the clone. The script is the single
//! place that names versions; the harness only asks it for the directory.

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

fn locate() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("SECRETKMS_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let script = repo_root().join("hack/control-plane-bins.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("kube")
        .arg("etcd")
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
