//! Serving the plugin's KMS v2 and v1 services over its unix socket, to peers whose uid is
//! allowed, until a shutdown signal, then finishing in-flight calls and removing the socket file.

use std::future::Future;
use std::time::Duration;

use tokio_stream::wrappers::UnixListenerStream;

use crate::peer::AllowedUids;
use crate::plugin::Plugin;
use crate::proto::KeyManagementServiceServer;
use crate::proto::v1beta1;
use crate::socket::{Exposure, SocketAddress, SocketError};

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Socket(#[from] SocketError),
    #[error("cannot use the socket {address}: {source}")]
    Listener {
        address: String,
        source: std::io::Error,
    },
    #[error("grpc server on {address}: {source}")]
    Transport {
        address: String,
        source: tonic::transport::Error,
    },
}

/// An upper bound for one call when the client sends no deadline; the apiserver always sends
/// its provider `timeout`, which tonic applies when shorter.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the plugin serves and whom it lets in.
#[derive(Debug, Clone)]
pub struct Listen {
    pub address: SocketAddress,
    pub exposure: Exposure,
    pub allowed_uids: AllowedUids,
}

/// A bound socket, ready to serve.
#[derive(Debug)]
pub struct Server {
    address: SocketAddress,
    listener: tokio::net::UnixListener,
    allowed_uids: AllowedUids,
}

impl Server {
    /// Binds the socket (clearing a stale socket file, setting its mode; an abstract address
    /// only when allowed). Needs a tokio runtime.
    pub fn bind(listen: Listen) -> Result<Self, ServeError> {
        let Listen {
            address,
            exposure,
            allowed_uids,
        } = listen;
        let std_listener = address.bind(exposure)?;
        let listener = tokio::net::UnixListener::from_std(std_listener).map_err(|source| {
            ServeError::Listener {
                address: address.to_string(),
                source,
            }
        })?;
        Ok(Self {
            address,
            listener,
            allowed_uids,
        })
    }

    pub fn address(&self) -> &SocketAddress {
        &self.address
    }

    /// Serves until `shutdown` completes, lets in-flight calls finish, removes the socket. A
    /// connection from a uid that is not allowed is closed before any gRPC is read.
    pub async fn serve(
        self,
        plugin: Plugin,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Self {
            address,
            listener,
            allowed_uids,
        } = self;
        tracing::info!(%address, key_id_mode = ?plugin.mode(), %allowed_uids, "kms plugin serving v2 and v1beta1");
        let incoming = allowed_uids.filter(UnixListenerStream::new(listener));
        let result = tonic::transport::Server::builder()
            .timeout(CALL_TIMEOUT)
            .add_service(KeyManagementServiceServer::new(plugin.clone()))
            .add_service(v1beta1::KeyManagementServiceServer::new(plugin))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        address.remove();
        result.map_err(|source| ServeError::Transport {
            address: address.to_string(),
            source,
        })
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the plugin");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!("shutting down");
}
