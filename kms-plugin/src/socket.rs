//! The unix socket the apiserver dials: parsing `unix://` endpoints as the apiserver does,
//! clearing a stale socket file left by a crashed plugin, making ours 0600 (or 0660 for one
//! group) whatever the umask, refusing abstract sockets unless told otherwise, and removing
//! ours on shutdown.

use std::fmt;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
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

/// Who can reach the socket besides the peer check ([`crate::peer`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exposure {
    /// The group of a socket file, which then is 0660 instead of 0600.
    pub group: Option<u32>,
    /// Serve on an abstract socket, which has no permissions: any process in the network
    /// namespace can connect to it.
    pub allow_abstract: bool,
}

impl Exposure {
    /// The mode of a socket file.
    pub fn mode(&self) -> u32 {
        if self.group.is_some() { 0o660 } else { 0o600 }
    }
}

/// Errors binding the socket.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "refusing the abstract socket {address}: any process in the network namespace can \
         connect to it; serve on a socket file, or pass --allow-abstract-socket (KMS v1 needs one)"
    )]
    AbstractRefused { address: String },
    #[error("cannot give the socket {path} mode {mode:04o}{}: {source}", group.map(|g| format!(" and group {g}")).unwrap_or_default())]
    Permissions {
        path: PathBuf,
        mode: u32,
        group: Option<u32>,
        source: io::Error,
    },
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

    /// Binds, first removing a socket file nobody listens on any more, then gives the file
    /// `exposure`'s mode and group before anything is served. A live socket or a file that is
    /// not a socket is left alone and reported; an abstract address is refused unless
    /// `exposure` allows it.
    pub fn bind(&self, exposure: Exposure) -> Result<UnixListener, SocketError> {
        match self {
            Self::Path(path) => clear_stale(path, &self.to_string())?,
            Self::Abstract(_) if !exposure.allow_abstract => {
                return Err(SocketError::AbstractRefused {
                    address: self.to_string(),
                });
            }
            Self::Abstract(name) => {
                tracing::warn!(%name, "serving on an abstract socket: only the peer uid check guards it");
            }
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
        if let Self::Path(path) = self
            && let Err(source) = restrict(path, exposure)
        {
            drop(listener);
            self.remove();
            return Err(SocketError::Permissions {
                path: path.clone(),
                mode: exposure.mode(),
                group: exposure.group,
                source,
            });
        }
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

/// The file's mode from `exposure`, not from the umask `bind` applied. The group is set first,
/// so the file is never group-accessible with the wrong group.
fn restrict(path: &Path, exposure: Exposure) -> io::Result<()> {
    if let Some(gid) = exposure.group {
        std::os::unix::fs::chown(path, None, Some(gid))?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(exposure.mode()))
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
        let live = address.bind(Exposure::default()).unwrap();
        let err = address.bind(Exposure::default()).unwrap_err();
        assert!(matches!(err, SocketError::InUse { .. }), "{err}");
        drop(live); // the file stays behind, as after a crash
        assert!(path.exists());
        let again = address.bind(Exposure::default()).unwrap();
        drop(again);
        address.remove();
        assert!(!path.exists());

        let file = dir.path().join("not-a-socket");
        std::fs::write(&file, "keep me").unwrap();
        let err = SocketAddress::Path(file.clone())
            .bind(Exposure::default())
            .unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    }

    fn mode_and_group(path: &Path) -> (u32, u32) {
        use std::os::unix::fs::MetadataExt as _;
        let meta = std::fs::metadata(path).unwrap();
        (meta.mode() & 0o7777, meta.gid())
    }

    #[test]
    fn a_socket_file_is_0600_or_0660_for_its_group_whatever_was_there_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sock");
        // A stale socket that anyone could open, as a crashed plugin under umask 0 leaves it.
        drop(UnixListener::bind(&path).unwrap());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        let address = SocketAddress::Path(path.clone());
        let listener = address.bind(Exposure::default()).unwrap();
        assert_eq!(mode_and_group(&path).0, 0o600);
        drop(listener);

        // Root may give the file any group; anyone else only one of their own.
        let gid = if rustix::process::geteuid().is_root() {
            65534
        } else {
            rustix::process::getegid().as_raw()
        };
        let _listener = address
            .bind(Exposure {
                group: Some(gid),
                allow_abstract: false,
            })
            .unwrap();
        assert_eq!(mode_and_group(&path), (0o660, gid));
    }

    #[test]
    fn abstract_sockets_are_refused_unless_allowed() {
        let name = format!("secretkms-test-{}", std::process::id());
        let address = SocketAddress::Abstract(name);
        let err = address.bind(Exposure::default()).unwrap_err();
        assert!(matches!(err, SocketError::AbstractRefused { .. }), "{err}");
        assert!(err.to_string().contains("--allow-abstract-socket"), "{err}");
        assert!(address.connect().is_err(), "nothing was bound");
        let _listener = address
            .bind(Exposure {
                group: None,
                allow_abstract: true,
            })
            .unwrap();
        address.connect().unwrap();
    }
}
