//! A Kubernetes KMS plugin backed by Alibaba Cloud KMS, serving KMS v2 and KMS v1 on one
//! socket. Under KMS v2, kube-apiserver sends a 32-byte seed to wrap at start-up and whenever
//! the plugin's key_id changes; the plugin wraps it with KMS Encrypt under the CMK's current
//! primary key version and, by default, reports that version as the key_id (see [`key_id`];
//! [`key_id_mode`] has Alibaba's constant form), so a KMS rotation makes the apiserver switch
//! to a new seed. Under KMS v1 every write is one Encrypt. Decrypt unwraps whatever the
//! account's KMS can decrypt. Status answers from a DescribeKey poll and an Encrypt/Decrypt
//! self-test ([`key_watch`], [`health`]) and fails with a reason when the key is not Enabled or
//! the plugin cannot wrap and unwrap.

pub mod args;
pub mod client;
pub mod health;
pub mod key_claim;
pub mod key_id;
pub mod key_id_mode;
pub mod key_watch;
pub mod peer;
pub mod plugin;
pub mod proto;
pub mod self_test;
pub mod server;
pub mod socket;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser as _;
use secretkms_alibaba::credentials::{DefaultChain, Environment};
use secretkms_alibaba::kms::{KmsClient, KmsConfig};

pub use args::Args;
pub use key_id_mode::KeyIdMode;
pub use key_watch::{KeyWatch, WatchConfig};
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
    tracing::info!(key = %args.key_id, endpoint = %kms.endpoint(), key_id_mode = ?args.key_id_mode, "starting");
    let config = WatchConfig {
        poll_interval: args.poll_interval,
        failure_grace: args.failure_grace,
    };
    let watch = KeyWatch::new(kms, args.key_id.clone(), config);
    // Bind before the first DescribeKey so a broken KMS shows up as an unhealthy Status the
    // apiserver can report, not as a missing socket.
    let server = Server::bind(args.listen())?;
    let poller = tokio::spawn(watch.clone().poll());
    let result = server
        .serve(
            Plugin::new(watch, args.key_id_mode),
            server::shutdown_signal(),
        )
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
