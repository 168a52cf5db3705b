//! Command-line interface: `load` (send reviews), `startup` (spawn a server until it is ready, a
//! few times) and `ready` (wait for a running server).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use secretkms_alibaba::duration;

use crate::client::Target;
use crate::{load, startup};

#[derive(Debug, Parser)]
#[command(
    name = "secretkms-loadgen",
    about = "Loopback TLS load generator for secretkms-webhook"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send AdmissionReviews over keep-alive connections and print latency and throughput as JSON.
    Load(LoadArgs),
    /// Start a server several times and time spawn → `GET <url>` answering 200; prints JSON.
    Startup(StartupArgs),
    /// Wait until `GET <url>` answers 200.
    Ready {
        #[command(flatten)]
        target: TargetArgs,
        /// Give up after this long.
        #[arg(long, default_value = "30s", value_parser = duration::parse)]
        timeout: Duration,
    },
}

/// Where the server is and how to trust it.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// `https://127.0.0.1:<port>/<path>`; only loopback addresses are accepted.
    #[arg(long)]
    pub url: String,
    /// CA certificate (PEM) the server's certificate chains to.
    #[arg(long)]
    pub ca: PathBuf,
    /// Name to verify the server's certificate against.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Keep-alive connections, each carrying one request at a time (HTTP/1.1, like the apiserver).
    #[arg(long, short = 'c', default_value_t = 16)]
    pub connections: usize,
    /// Requests per second, spread over the connections (open loop); without it, each
    /// connection sends its next request as soon as the previous answer arrives (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured time, after the warm-up.
    #[arg(long, default_value = "10s", value_parser = duration::parse)]
    pub duration: Duration,
    /// Unmeasured time first (connections, caches, pool slots warm up).
    #[arg(long, default_value = "1s", value_parser = duration::parse)]
    pub warmup: Duration,
    /// Stop after this many measured requests even if time remains.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_requests: u64,
    /// The AdmissionReview to send (its uid is replaced per request); default: a 2.7 KB Secret
    /// CREATE.
    #[arg(long)]
    pub review: Option<PathBuf>,
    /// Threads of the load generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// The server's process id: its CPU time during the measured window is reported.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    pub label: String,
}

#[derive(Debug, Args)]
pub struct StartupArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Measured starts.
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Start once, unmeasured, before the measured runs (fills caches).
    #[arg(long)]
    pub prime: bool,
    /// Delete this directory before every start (a cold precompile cache).
    #[arg(long)]
    pub clear: Option<PathBuf>,
    /// A label copied into the output.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The server command line.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

impl Cli {
    pub fn run(self) -> anyhow::Result<()> {
        secretkms_alibaba::install_crypto_provider();
        match self.command {
            Command::Load(args) => {
                let threads = args.threads.max(1);
                let report = runtime(threads)?.block_on(load::run(args))?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Command::Startup(args) => {
                let report = runtime(1)?.block_on(startup::run(args))?;
                println!("{}", serde_json::to_string_pretty(&report)?);
            }
            Command::Ready { target, timeout } => {
                let target = Target::new(&target)?;
                runtime(1)?.block_on(async {
                    tokio::time::timeout(timeout, target.wait_ready(None))
                        .await
                        .with_context(|| format!("{} not ready within {timeout:?}", target.url))?
                })?;
            }
        }
        Ok(())
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut b = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    b.enable_all().build().context("building the async runtime")
}

/// The loopback socket address of an `https://` URL, and its path.
pub fn loopback(url: &str) -> anyhow::Result<(SocketAddr, String)> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("{url:?} is not a URL"))?;
    if uri.scheme_str() != Some("https") {
        bail!("{url:?}: only https:// is supported");
    }
    let authority = uri
        .authority()
        .with_context(|| format!("{url:?} has no host"))?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let host = if host == "localhost" {
        "127.0.0.1"
    } else {
        host
    };
    let ip: std::net::IpAddr = host
        .parse()
        .with_context(|| format!("{url:?}: the host must be a loopback IP address"))?;
    if !ip.is_loopback() {
        bail!("{url:?}: only loopback addresses are allowed, got {ip}");
    }
    let port = authority
        .port_u16()
        .with_context(|| format!("{url:?} has no port"))?;
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    Ok((SocketAddr::new(ip, port), path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_targets_are_accepted() {
        let (addr, path) = loopback("https://127.0.0.1:8443/validate?timeout=10s").unwrap();
        assert_eq!(addr.to_string(), "127.0.0.1:8443");
        assert_eq!(path, "/validate?timeout=10s");
        assert!(loopback("https://localhost:1/").is_ok());
        assert!(loopback("https://[::1]:1/").is_ok());
        assert!(loopback("https://10.0.0.1:8443/validate").is_err());
        assert!(loopback("https://example.invalid:8443/").is_err());
        assert!(loopback("http://127.0.0.1:8443/").is_err());
        assert!(loopback("https://127.0.0.1/").is_err());
    }
}
