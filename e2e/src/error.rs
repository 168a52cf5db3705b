//! Errors of the harness. Each says what failed and what to do about it, because the person
//! reading them is usually looking at a red CI run.

use std::path::PathBuf;

/// Why the control plane could not be brought up or used.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "building the control-plane binaries failed (run hack/control-plane-bins.sh to see the whole log): {0}"
    )]
    Binaries(String),
    #[error("could not start {what} ({program}): {source}")]
    Spawn {
        what: &'static str,
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} exited before becoming ready ({status}); last lines of {log}:\n{tail}")]
    Exited {
        what: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },
    #[error(
        "{what} was not ready after {waited_secs}s (last error: {last_error}); last lines of {log}:\n{tail}"
    )]
    NotReady {
        what: &'static str,
        waited_secs: u64,
        last_error: String,
        log: PathBuf,
        tail: String,
    },
    #[error("generating test certificates failed: {0}")]
    Certificates(#[from] rcgen::Error),
    #[error("talking to the kube-apiserver failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("kubeconfig {path} is unusable: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("reading etcd failed: {0}")]
    Etcd(String),
    #[error("webhook: {0}")]
    Webhook(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

impl HarnessError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

pub type Result<T, E = HarnessError> = std::result::Result<T, E>;
