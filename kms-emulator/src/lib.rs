//! A local Alibaba Cloud KMS emulator speaking the OpenAPI 2016-01-20 RPC wire protocol the
//! official SDKs send: both signature methods verified, keys with real states, specs, versions,
//! rotation and deletion schedules, real AES-GCM, an STS for RRSA, ECS metadata, persistence, and
//! test controls under `/_emulator/`. Around KMS it is a small local Alibaba Cloud: one account
//! model (RAM users and their AccessKeys, roles, attached policies, a balance) answering STS
//! `GetCallerIdentity`, RAM, BSS `QueryAccountBalance`, and an ActionTrail that records every KMS
//! call it serves — and a local ACK: CS `UpdateKMSEncryption`, `DescribeClusterDetail` and
//! `DescribeUserPermission` over the account's clusters, each change applied by the cluster's
//! agent ([`cs::agent`]). It binds loopback only: the controls are unauthenticated.

mod account;
mod account_routes;
mod actiontrail;
mod api_error;
mod auth;
mod bss;
pub mod cli;
mod cluster;
mod cluster_routes;
mod crypto;
pub mod cs;
mod faults;
mod operations;
mod params;
mod ram;
mod seed;
mod server;
mod store;
mod sts;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub use account::{
    AccountFile, CS_SECURITY_ROLE, CS_SECURITY_ROLE_POLICY, DEFAULT_USER, KMS_CRYPTO_ADMIN_POLICY,
};
pub use actiontrail::TRAIL_CAPACITY;
pub use api_error::ApiError;
pub use cluster::{ALL_CLUSTERS, Cluster, ClusterGrant, DEFAULT_COOL_DOWN_SECONDS};
pub use faults::{Fault, FaultKind};
pub use seed::SeedKey;
pub use server::router;

/// Defaults for local use; tests and the binary override what they need.
pub const DEFAULT_ACCESS_KEY_ID: &str = "LTAIemulatorAccessKey";
pub const DEFAULT_ACCESS_KEY_SECRET: &str = "emulator-access-key-secret";

/// How the emulator runs.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Must be a loopback address; port 0 picks a free one.
    pub listen: SocketAddr,
    pub region: String,
    pub account: String,
    /// Long-lived AccessKeys (id, secret) it accepts; they belong to RAM user
    /// [`DEFAULT_USER`] unless the account file gives them to another.
    pub access_keys: Vec<(String, String)>,
    /// JSON account model ([`AccountFile`]); without it, the built-in defaults.
    pub account_file: Option<PathBuf>,
    pub data_file: Option<PathBuf>,
    pub seed_keys: Vec<SeedKey>,
    /// Role name the ECS metadata endpoints report.
    pub ecs_role: String,
    /// PEM certificate chain and key to serve https instead of http.
    pub tls: Option<(PathBuf, PathBuf)>,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            region: "cn-hangzhou".into(),
            account: "1234567890123456".into(),
            access_keys: vec![(
                DEFAULT_ACCESS_KEY_ID.into(),
                DEFAULT_ACCESS_KEY_SECRET.into(),
            )],
            account_file: None,
            data_file: None,
            seed_keys: Vec::new(),
            ecs_role: "secretkms-emulator-role".into(),
            tls: None,
        }
    }
}

/// Errors starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "refusing to listen on {0}: the emulator's controls are unauthenticated, use a loopback address"
    )]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot load tls certificate or key: {0}")]
    Tls(std::io::Error),
    #[error("{0}")]
    Store(String),
    #[error("{0}")]
    Account(String),
}

/// Shared state behind the router.
#[derive(Debug)]
pub struct Emulator {
    pub(crate) store: Mutex<store::Store>,
    pub(crate) auth: Mutex<auth::Auth>,
    pub(crate) faults: Mutex<faults::Faults>,
    /// Lock order: `account` before `store` before `auth` when more than one is needed.
    pub(crate) account: Mutex<account::Account>,
    /// When the account model was loaded: the creation date of its roles and attachments.
    pub(crate) account_since: time::OffsetDateTime,
    pub(crate) trail: Mutex<actiontrail::Trail>,
    pub(crate) region: String,
    pub(crate) ecs_role: String,
}

impl Emulator {
    /// Loads the account model, opens the data file (if any) and creates missing seed keys.
    pub fn new(config: &EmulatorConfig) -> Result<Arc<Self>, StartError> {
        let account = match &config.account_file {
            Some(path) => {
                account::Account::load(path, &config.account, &config.access_keys, &config.ecs_role)
            }
            None => {
                let account = account::Account::defaults(
                    &config.account,
                    &config.access_keys,
                    &config.ecs_role,
                );
                account.validate().map(|()| account)
            }
        }
        .map_err(StartError::Account)?;
        let mut store = store::Store::open(
            &config.region,
            &account.account_id,
            config.data_file.clone(),
        )
        .map_err(StartError::Store)?;
        store.seed(&config.seed_keys).map_err(StartError::Store)?;
        Ok(Arc::new(Self {
            store: Mutex::new(store),
            auth: Mutex::new(auth::Auth::new(account.access_keys())),
            account: Mutex::new(account),
            account_since: time::OffsetDateTime::now_utc(),
            trail: Mutex::new(actiontrail::Trail::default()),
            faults: Mutex::new(faults::Faults::default()),
            region: config.region.clone(),
            ecs_role: config.ecs_role.clone(),
        }))
    }

    /// Key id of an alias, for tests that seeded keys by alias.
    pub fn key_id(&self, key: &str) -> Option<String> {
        lock(&self.store).resolve(key).ok()
    }
}

/// Locks a mutex even if a panicking thread poisoned it; the data stays consistent because
/// every mutation completes before the guard drops.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running emulator.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    /// `http://addr` or `https://addr`.
    pub url: String,
    pub emulator: Arc<Emulator>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds, spawns the server on the current tokio runtime and returns at once.
pub async fn start(config: EmulatorConfig) -> Result<Running, StartError> {
    if !config.listen.ip().is_loopback() {
        return Err(StartError::NotLoopback(config.listen));
    }
    secretkms_alibaba::install_crypto_provider();
    let emulator = Emulator::new(&config)?;
    let listener =
        std::net::TcpListener::bind(config.listen).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen,
        source,
    })?;
    let app = router(emulator.clone());
    let (url, task) = match &config.tls {
        Some((cert, key)) => {
            let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                .await
                .map_err(StartError::Tls)?;
            let server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)
                .map_err(|source| StartError::Bind { addr, source })?;
            (
                format!("https://{addr}"),
                tokio::spawn(server.serve(app.into_make_service())),
            )
        }
        None => {
            let listener = tokio::net::TcpListener::from_std(listener)
                .map_err(|source| StartError::Bind { addr, source })?;
            (
                format!("http://{addr}"),
                tokio::spawn(async move { axum::serve(listener, app).await }),
            )
        }
    };
    Ok(Running {
        addr,
        url,
        emulator,
        task,
    })
}
