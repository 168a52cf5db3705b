//! One HTTP/1.1 keep-alive connection over TLS (rustls with ring, trusting only the given CA),
//! as the apiserver talks to webhooks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::args::{TargetArgs, loopback};

/// A server endpoint and the TLS settings to reach it.
#[derive(Clone)]
pub struct Target {
    pub url: String,
    addr: SocketAddr,
    path: String,
    authority: String,
    tls: TlsConnector,
    server_name: ServerName<'static>,
}

/// An open connection; one request at a time.
pub type Connection = SendRequest<Full<Bytes>>;

/// An answer: status and body.
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

impl Target {
    pub fn new(args: &TargetArgs) -> anyhow::Result<Self> {
        let (addr, path) = loopback(&args.url)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&args.ca)
            .with_context(|| format!("reading the CA {}", args.ca.display()))?
        {
            let cert = cert.with_context(|| format!("parsing the CA {}", args.ca.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("adding the CA {}", args.ca.display()))?;
        }
        if roots.is_empty() {
            bail!("{} holds no certificate", args.ca.display());
        }
        let mut config = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        // The apiserver speaks HTTP/1.1 to webhooks.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = ServerName::try_from(args.server_name.clone())
            .with_context(|| format!("{:?} is not a server name", args.server_name))?;
        Ok(Self {
            url: args.url.clone(),
            addr,
            path,
            authority: addr.to_string(),
            tls: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    /// Opens a connection: TCP (no Nagle), TLS handshake, HTTP/1.1 handshake.
    pub async fn connect(&self) -> anyhow::Result<Connection> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))?;
        tcp.set_nodelay(true)?;
        let tls = self
            .tls
            .connect(self.server_name.clone(), tcp)
            .await
            .with_context(|| format!("TLS handshake with {}", self.addr))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .context("HTTP/1.1 handshake")?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// POSTs a JSON body to the target's path and reads the whole answer.
    pub async fn post(&self, conn: &mut Connection, body: Bytes) -> anyhow::Result<Answer> {
        let req = http::Request::post(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        self.send(conn, req).await
    }

    async fn send(
        &self,
        conn: &mut Connection,
        req: http::Request<Full<Bytes>>,
    ) -> anyhow::Result<Answer> {
        conn.ready().await.context("connection closed")?;
        let resp = conn
            .send_request(req)
            .await
            .context("sending the request")?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .context("reading the answer")?
            .to_bytes();
        Ok(Answer { status, body })
    }

    /// One `GET` of the target's path on a new connection.
    async fn get_status(&self) -> anyhow::Result<u16> {
        let mut conn = self.connect().await?;
        let req = http::Request::get(self.path.as_str())
            .header(HOST, self.authority.as_str())
            .body(Full::new(Bytes::new()))?;
        Ok(self.send(&mut conn, req).await?.status)
    }

    /// Polls `GET` every 2 ms until it answers 200. With a child process, fails as soon as the
    /// child exits.
    pub async fn wait_ready(
        &self,
        mut child: Option<&mut tokio::process::Child>,
    ) -> anyhow::Result<()> {
        loop {
            if let Ok(200) = self.get_status().await {
                return Ok(());
            }
            if let Some(child) = child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                return Err(anyhow!("the server exited before it was ready: {status}"));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
