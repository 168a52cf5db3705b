//! A Kubernetes KMS v2 plugin backed by Alibaba Cloud KMS. kube-apiserver sends it a 32-byte
//! seed to wrap at start-up and whenever the plugin's key_id changes; the plugin wraps it with
//! KMS Encrypt under the CMK's current primary key version and reports that version as the
//! key_id (see [`key_id`]), so a KMS rotation makes the apiserver switch to a new seed. Status
//! answers from a DescribeKey poll ([`key_watch`]) and fails with a reason when the key is not
//! Enabled or KMS cannot be reached. Alibaba's own plugin speaks only KMS v1, off by default
//! since Kubernetes 1.29.

pub mod args;
pub mod client;
pub mod key_id;
pub mod key_watch;
pub mod plugin;
pub mod proto;
pub mod server;
pub mod socket;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use secretkms_alibaba::credentials::{DefaultChain, Environment};
use secretkms_alibaba::kms::{KmsClient, KmsConfig};

pub use args::Args;
pub use key_watch::KeyWatch;
pub use plugin::Plugin;
pub use server::Server;

/// Builds the KMS client the flags describe, with credentials from the SDKs' default chain.
pub fn kms_client(args: &Args) -> anyhow::Result<KmsClient> {
    let endpoint = args.kms_endpoint().map_err(anyhow::Error::msg)?;
    let mut config = KmsConfig::new(endpoint);
    config.timeout = args.kms_timeout;
    config.connect_timeout = args.kms_timeout;
    if let Some(path) = &args.ca_file {
        config.ca_pem = Some(
            std::fs::read(path).with_context(|| format!("reading --ca-file {}", path.display()))?,
        );
    }
    let credentials = Arc::new(DefaultChain::cached(&Environment::from_process()));
    Ok(KmsClient::new(config, credentials)?)
}

/// Runs the plugin until SIGTERM/SIGINT.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let kms = kms_client(&args)?;
    tracing::info!(key = %args.key_id, endpoint = %kms.endpoint(), "starting");
    let watch = KeyWatch::new(kms, args.key_id.clone(), args.poll_interval);
    // Bind before the first DescribeKey so a broken KMS shows up as an unhealthy Status the
    // apiserver can report, not as a missing socket.
    let server = Server::bind(args.listen.clone())?;
    let poller = tokio::spawn(watch.clone().poll());
    let result = server
        .serve(Plugin::new(watch), server::shutdown_signal())
        .await;
    poller.abort();
    Ok(result?)
}

/// The binary's entry point; also linked by the e2e crate's copy of the binary. Exit codes:
/// 0 after a clean shutdown, 1 on a start-up or serving error, 2 on bad flags.
pub fn main() -> ExitCode {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
