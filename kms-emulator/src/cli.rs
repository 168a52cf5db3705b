//! The `secretkms-kms-emulator` command line: runs the emulator on loopback and prints the bound
//! address on stdout as the first line, so harnesses can start it on port 0 and read where it
//! listens.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, EmulatorConfig, SeedKey};
use anyhow::Context as _;
use clap::Parser;

/// A local Alibaba Cloud KMS (OpenAPI 2016-01-20) emulator for tests and for trying secretkms.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Loopback address to listen on; port 0 picks a free port.
    #[arg(
        long,
        default_value = "127.0.0.1:0",
        env = "SECRETKMS_KMS_EMULATOR_LISTEN"
    )]
    listen: SocketAddr,
    /// AccessKey id accepted for signed requests.
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_ID)]
    access_key_id: String,
    /// AccessKey secret accepted for signed requests.
    #[arg(long, default_value = DEFAULT_ACCESS_KEY_SECRET, hide_default_value = true)]
    access_key_secret: String,
    /// Region in key ARNs; requests with another region's ARN find no key.
    #[arg(long, default_value = "cn-hangzhou")]
    region: String,
    /// Account id in key ARNs (an account file's `account_id` takes precedence).
    #[arg(long, default_value = "1234567890123456")]
    account: String,
    /// JSON account model: RAM users with their AccessKeys, roles, attached policies, the balance
    /// (kms-emulator/README.md); without it, built-in defaults.
    #[arg(long, env = "SECRETKMS_KMS_EMULATOR_ACCOUNT_FILE")]
    account_file: Option<PathBuf>,
    /// JSON file keeping keys and aliases across restarts.
    #[arg(long)]
    data_file: Option<PathBuf>,
    /// Key to create at start unless its alias exists, e.g.
    /// `alias=k8s,spec=Aliyun_AES_256,state=Enabled,rotation=365d,protection=on` (repeatable).
    #[arg(long = "seed-key")]
    seed_keys: Vec<SeedKey>,
    /// RAM role name reported by the ECS metadata endpoints.
    #[arg(long, default_value = "secretkms-emulator-role")]
    ecs_role: String,
    /// PEM certificate chain; with --tls-key, serve https.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

/// The binary's entry point, in the library so other crates can build the same binary (Cargo
/// names only a package's own binaries to its tests, `CARGO_BIN_EXE_*`).
pub fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Args {
        listen,
        access_key_id,
        access_key_secret,
        region,
        account,
        account_file,
        data_file,
        seed_keys,
        ecs_role,
        tls_cert,
        tls_key,
    } = Args::parse();
    let config = EmulatorConfig {
        listen,
        region,
        account,
        access_keys: vec![(access_key_id, access_key_secret)],
        account_file,
        data_file,
        seed_keys,
        ecs_role,
        tls: tls_cert.zip(tls_key),
    };
    let running = crate::start(config)
        .await
        .context("starting the kms emulator")?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", running.url)?;
        out.flush()?;
    }
    tracing::info!(url = %running.url, "kms emulator listening");
    tokio::select! {
        result = running.task => result.context("server task")?.context("server")?,
        _ = tokio::signal::ctrl_c() => tracing::info!("stopping"),
    }
    Ok(())
}
