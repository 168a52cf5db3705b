//! The unix socket the apiserver dials: parsing `unix://` endpoints as the apiserver does,
//! clearing a stale socket file left by a crashed plugin, and removing ours on shutdown.

use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Linux limits `sun_path` to 108 bytes including the terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// Where the plugin listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketAddress {
    /// A socket file.
    Path(PathBuf),
    /// A Linux abstract socket (`unix:///@name`): no file, scoped to the network namespace.
    Abstract(String),
}

/// Errors binding the socket.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("{path} exists and is not a socket; refusing to replace it")]
    NotASocket { path: PathBuf },
    #[error("{address} is in use by a running process (another plugin?)")]
    InUse { address: String },
    #[error("cannot remove the stale socket {path}: {source}")]
    RemoveStale { path: PathBuf, source: io::Error },
    #[error("cannot listen on {address}: {source}")]
    Bind { address: String, source: io::Error },
}

impl SocketAddress {
    /// Parses `unix:///abs/path`, `unix:///@name` or a plain absolute path. Only `unix` is
    /// accepted: the apiserver dials nothing else for KMS.
    pub fn parse(text: &str) -> Result<Self, String> {
        let path = match text.split_once("://") {
            Some(("unix", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "unsupported scheme {scheme:?} in {text:?}: the apiserver only dials unix://"
                ));
            }
            None => text,
        };
        if let Some(name) = path.strip_prefix("/@") {
            if name.is_empty() || name.len() > MAX_SOCKET_PATH - 1 {
                return Err(format!("invalid abstract socket name in {text:?}"));
            }
            return Ok(Self::Abstract(name.to_string()));
        }
        if !path.starts_with('/') {
            return Err(format!("socket path in {text:?} must be absolute"));
        }
        if path.len() > MAX_SOCKET_PATH {
            return Err(format!(
                "socket path {path:?} is {} bytes; unix sockets allow at most {MAX_SOCKET_PATH}",
                path.len()
            ));
        }
        Ok(Self::Path(PathBuf::from(path)))
    }

    fn std_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Self::Path(p) => SocketAddr::from_pathname(p),
            Self::Abstract(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        }
    }

    /// Binds, first removing a socket file nobody listens on any more. A live socket or a
    /// file that is not a socket is left alone and reported.
    pub fn bind(&self) -> Result<UnixListener, SocketError> {
        if let Self::Path(path) = self {
            clear_stale(path, &self.to_string())?;
        }
        let bind_error = |source| SocketError::Bind {
            address: self.to_string(),
            source,
        };
        let listener =
            UnixListener::bind_addr(&self.std_addr().map_err(bind_error)?).map_err(|source| {
                match source.kind() {
                    io::ErrorKind::AddrInUse => SocketError::InUse {
                        address: self.to_string(),
                    },
                    _ => bind_error(source),
                }
            })?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        Ok(listener)
    }

    /// Connects (blocking) to a listener at this address.
    pub fn connect(&self) -> io::Result<UnixStream> {
        UnixStream::connect_addr(&self.std_addr()?)
    }

    /// Removes our socket file at shutdown, so a later start finds nothing stale.
    pub fn remove(&self) {
        if let Self::Path(path) = self
            && let Err(e) = std::fs::remove_file(path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove the socket file");
        }
    }
}

fn clear_stale(path: &Path, address: &str) -> Result<(), SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(_) => return Ok(()),
    };
    if !meta.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_path_buf(),
        });
    }
    if UnixStream::connect(path).is_ok() {
        return Err(SocketError::InUse {
            address: address.to_string(),
        });
    }
    tracing::info!(path = %path.display(), "removing a stale socket file");
    std::fs::remove_file(path).map_err(|source| SocketError::RemoveStale {
        path: path.to_path_buf(),
        source,
    })
}

impl fmt::Display for SocketAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Path(p) => write!(f, "unix://{}", p.display()),
            Self::Abstract(name) => write!(f, "unix:///@{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_apiserver_accepts() {
        assert_eq!(
            SocketAddress::parse("unix:///var/run/kms.sock").unwrap(),
            SocketAddress::Path("/var/run/kms.sock".into())
        );
        assert_eq!(
            SocketAddress::parse("/tmp/k.sock").unwrap(),
            SocketAddress::Path("/tmp/k.sock".into())
        );
        assert_eq!(
            SocketAddress::parse("unix:///@secretkms").unwrap(),
            SocketAddress::Abstract("secretkms".into())
        );
        let err = SocketAddress::parse("tcp://127.0.0.1:1").unwrap_err();
        assert!(err.contains("\"tcp\""), "{err}");
        assert!(SocketAddress::parse("unix://relative.sock").is_err());
        let long = format!("unix:///tmp/{}", "x".repeat(120));
        assert!(
            SocketAddress::parse(&long)
                .unwrap_err()
                .contains("at most 107")
        );
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_live_one_and_a_file_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sock");
        let address = SocketAddress::Path(path.clone());
        let live = address.bind().unwrap();
        let err = address.bind().unwrap_err();
        assert!(matches!(err, SocketError::InUse { .. }), "{err}");
        drop(live); // the file stays behind, as after a crash
        assert!(path.exists());
        let again = address.bind().unwrap();
        drop(again);
        address.remove();
        assert!(!path.exists());

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "keep me").unwrap();
        let err = SocketAddress::Path(file.clone()).bind().unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }

    #[test]
    fn abstract_sockets_bind_and_connect() {
        let name = format!("secretkms-test-{}", std::process::id());
        let address = SocketAddress::Abstract(name);
        let _listener = address.bind().unwrap();
        address.connect().unwrap();
    }
}
