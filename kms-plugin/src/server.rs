//! Serving the plugin's KMS v2 and v1 services over its unix socket until a shutdown signal,
//! then finishing in-flight calls and removing the socket file.

use std::future::Future;
use std::time::Duration;

use tokio_stream::wrappers::UnixListenerStream;

use crate::plugin::Plugin;
use crate::proto::KeyManagementServiceServer;
use crate::proto::v1beta1;
use crate::socket::{SocketAddress, SocketError};

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

/// A bound socket, ready to serve.
#[derive(Debug)]
pub struct Server {
    address: SocketAddress,
    listener: tokio::net::UnixListener,
}

impl Server {
    /// Binds `address` (clearing a stale socket file). Needs a tokio runtime.
    pub fn bind(address: SocketAddress) -> Result<Self, ServeError> {
        let std_listener = address.bind()?;
        let listener = tokio::net::UnixListener::from_std(std_listener).map_err(|source| {
            ServeError::Listener {
                address: address.to_string(),
                source,
            }
        })?;
        Ok(Self { address, listener })
    }

    pub fn address(&self) -> &SocketAddress {
        &self.address
    }

    /// Serves until `shutdown` completes, lets in-flight calls finish, removes the socket.
    pub async fn serve(
        self,
        plugin: Plugin,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), ServeError> {
        let Self { address, listener } = self;
        tracing::info!(%address, key_id_mode = ?plugin.mode(), "kms plugin serving v2 and v1beta1");
        let result = tonic::transport::Server::builder()
            .timeout(CALL_TIMEOUT)
            .add_service(KeyManagementServiceServer::new(plugin.clone()))
            .add_service(v1beta1::KeyManagementServiceServer::new(plugin))
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
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
