//! A loopback HTTP/1.1 server standing in for STS, the ECS metadata service and KMS: each
//! request is read whole and handed to the test's handler, which answers with a status and a
//! JSON body (after sleeping, or holding until released, if it wants). It counts what it
//! received and what it answered, so tests can assert on ordering instead of timing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST /?Action=...&Signature=... HTTP/1.1`
    pub line: String,
    /// The header lines, as sent.
    pub headers: String,
    pub body: String,
}

impl Request {
    pub fn path(&self) -> &str {
        self.line.split(' ').nth(1).unwrap_or_default()
    }

    /// The whole request as text: what a careless server would quote back.
    pub fn text(&self) -> String {
        format!("{} {} {}", self.line, self.headers, self.body)
    }
}

pub type Answer = Pin<Box<dyn Future<Output = (u16, String)> + Send>>;
type Handler = dyn Fn(Request) -> Answer + Send + Sync;

/// A running server; stops with the test's runtime.
pub struct Server {
    pub url: String,
    received: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

impl Server {
    pub async fn start(handler: impl Fn(Request) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(AtomicUsize::new(0));
        let answered = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (r, a) = (received.clone(), answered.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (handler, r, a) = (handler.clone(), r.clone(), a.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &*handler, &r, &a).await;
                });
            }
        });
        Self {
            url,
            received,
            answered,
        }
    }

    pub fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }

    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    handler: &Handler,
    received: &AtomicUsize,
    answered: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let (line, headers) = head.split_once("\r\n").unwrap_or((&head, ""));
    let length = headers
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    received.fetch_add(1, Ordering::SeqCst);
    let request = Request {
        line: line.to_string(),
        headers: headers.replace("\r\n", " "),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    let (status, body) = handler(request).await;
    let response = format!(
        "HTTP/1.1 {status} Answer\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    answered.fetch_add(1, Ordering::SeqCst);
    stream.shutdown().await
}

/// A loopback URL nothing listens on: bound, then closed.
pub async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}
