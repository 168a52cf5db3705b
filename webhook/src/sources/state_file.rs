//! The state file: an [`EncryptionState`] in JSON or YAML whose facts override the live sources,
//! re-read when its content changes (polled by hash, like the certificates). For demos, tests,
//! and for pinning a fact by hand while a real source is being fixed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secretkms_core::observations::FileState;
use secretkms_model::EncryptionState;
use sha2::{Digest, Sha256};

use super::StateHub;

#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state file {path} is not a valid EncryptionState: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Reads and parses a state file.
pub fn read(path: &Path) -> Result<(EncryptionState, [u8; 32]), StateFileError> {
    let bytes = std::fs::read(path).map_err(|source| StateFileError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let hash: [u8; 32] = Sha256::digest(&bytes).into();
    let state = parse(&bytes).map_err(|e| StateFileError::Parse {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok((state, hash))
}

/// Parses a state file's content. YAML is a superset of JSON, so one parser reads both.
/// (fuzz/fuzz_targets/state_file.rs feeds it arbitrary bytes.)
pub fn parse(bytes: &[u8]) -> Result<EncryptionState, serde_yaml::Error> {
    serde_yaml::from_slice(bytes)
}

/// Loads the file now (failing loudly at start-up), then keeps it current.
pub fn load(path: &Path, hub: &StateHub) -> Result<[u8; 32], StateFileError> {
    let (state, hash) = read(path)?;
    hub.update(|o| {
        o.file = Some(FileState {
            state,
            loaded_at: SystemTime::now(),
        })
    });
    Ok(hash)
}

/// Re-reads the file every `interval` when its content changed. A broken edit keeps the last
/// good state and is logged, so a typo does not flip the webhook's decisions.
pub async fn watch(path: PathBuf, mut loaded: [u8; 32], interval: Duration, hub: Arc<StateHub>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        match read(&path) {
            Ok((_, hash)) if hash == loaded => {}
            Ok((state, hash)) => {
                hub.update(|o| {
                    o.file = Some(FileState {
                        state,
                        loaded_at: SystemTime::now(),
                    })
                });
                loaded = hash;
                tracing::info!(path = %path.display(), "state file reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "state file not reloaded; the previous state stays")
            }
        }
    }
}
