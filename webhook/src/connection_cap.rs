//! The limits every connection lives under, on both ports: at most `--max-connections` open at
//! once (beyond that a new connection is closed at once, before its TLS handshake, and counted),
//! and `--header-read-timeout` to send a request's headers. hyper starts that timer whenever a
//! connection waits for a request, so it also closes keep-alive connections idle for longer.
//! The TLS handshake has axum-server's 10 s; a body must arrive before the review's deadline
//! ([`crate::admission::ReviewBody`]).

use std::future::Ready;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use hyper_util::rt::TokioTimer;
use hyper_util::server::conn::auto::Builder;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{Metrics, Port};

/// The connection limits of one port.
#[derive(Debug, Clone)]
pub struct ConnectionCap {
    permits: Arc<Semaphore>,
    port: Port,
    metrics: Arc<Metrics>,
}

impl ConnectionCap {
    pub fn new(max_connections: usize, port: Port, metrics: Arc<Metrics>) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            port,
            metrics,
        }
    }
}

/// Sets the header-read timeout (and the timer hyper needs to enforce it) on a server's builder.
pub fn limit_headers(builder: &mut Builder<hyper_util::rt::TokioExecutor>, timeout: Duration) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
}

impl<S> Accept<TcpStream, S> for ConnectionCap {
    type Stream = Capped;
    type Service = S;
    type Future = Ready<io::Result<(Capped, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                // Reviews are small request/response pairs: Nagle only delays them.
                let _ = stream.set_nodelay(true);
                Ok((
                    Capped {
                        stream,
                        _permit: permit,
                    },
                    service,
                ))
            }
            Err(_) => {
                self.metrics.connection_refused(self.port);
                Err(io::Error::other(format!(
                    "{} port: connection limit reached, closing a new connection",
                    self.port.value()
                )))
            }
        })
    }
}

/// A connection holding its place under the cap until it is dropped.
#[derive(Debug)]
pub struct Capped {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
