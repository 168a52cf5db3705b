//! Who may call the plugin: the uid of every connecting process, read with SO_PEERCRED when the
//! connection is accepted and checked against an allowed set before any gRPC is served. A
//! socket file's mode guards only as well as its directory does, and an abstract socket has no
//! mode at all; the peer's uid is what the kernel vouches for.

use std::collections::BTreeSet;
use std::fmt;
use std::io;

use tokio::net::UnixStream;
use tokio_stream::{Stream, StreamExt as _};

/// The uids whose processes may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedUids(BTreeSet<u32>);

impl AllowedUids {
    /// Exactly `uids`; an empty list means [`AllowedUids::default_for_self`].
    pub fn new(uids: impl IntoIterator<Item = u32>) -> Self {
        let set: BTreeSet<u32> = uids.into_iter().collect();
        if set.is_empty() {
            Self::default_for_self()
        } else {
            Self(set)
        }
    }

    /// Root (what kube-apiserver runs as on kubeadm, ACK and most static-pod control planes)
    /// and the plugin's own effective uid (a plugin run next to an unprivileged apiserver as
    /// the same user).
    pub fn default_for_self() -> Self {
        Self(BTreeSet::from([0, rustix::process::geteuid().as_raw()]))
    }

    pub fn contains(&self, uid: u32) -> bool {
        self.0.contains(&uid)
    }

    /// Whether the process at the other end of `stream` may call; a refusal is logged with
    /// the peer's uid and pid, nothing else.
    pub fn admit(&self, stream: &UnixStream) -> bool {
        match stream.peer_cred() {
            Ok(cred) if self.contains(cred.uid()) => {
                tracing::debug!(uid = cred.uid(), pid = cred.pid(), "accepted a connection");
                true
            }
            Ok(cred) => {
                tracing::warn!(
                    uid = cred.uid(),
                    pid = cred.pid(),
                    allowed = %self,
                    "refused a connection from a uid not in --allowed-uid"
                );
                false
            }
            Err(e) => {
                tracing::warn!(error = %e, "refused a connection whose peer credentials cannot be read");
                false
            }
        }
    }

    /// The connections of `incoming` whose peer may call; the others are closed (dropped) at
    /// once. Accept errors pass through, as before the filter.
    pub fn filter<S>(self, incoming: S) -> impl Stream<Item = io::Result<UnixStream>>
    where
        S: Stream<Item = io::Result<UnixStream>>,
    {
        incoming.filter(move |accepted| match accepted {
            Ok(stream) => self.admit(stream),
            Err(_) => true,
        })
    }
}

impl fmt::Display for AllowedUids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uids: Vec<String> = self.0.iter().map(u32::to_string).collect();
        f.write_str(&uids.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_means_root_and_the_plugins_own_uid() {
        let own = rustix::process::geteuid().as_raw();
        let default = AllowedUids::new([]);
        assert!(default.contains(0) && default.contains(own));
        assert_eq!(default, AllowedUids::default_for_self());
        let explicit = AllowedUids::new([1000, 1000, 5]);
        assert_eq!(explicit.to_string(), "5,1000");
        assert!(
            !explicit.contains(0),
            "an explicit list replaces the default"
        );
    }

    #[tokio::test]
    async fn a_peer_is_admitted_by_its_uid() {
        let own = rustix::process::geteuid().as_raw();
        let (a, _b) = UnixStream::pair().unwrap();
        assert!(AllowedUids::new([own]).admit(&a));
        assert!(!AllowedUids::new([own.wrapping_add(1)]).admit(&a));
    }
}
