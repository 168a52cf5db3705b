//! Real envelope encryption for the control plane: the KMS emulator and the KMS v2 plugin as
//! supervised processes, the plugin pointed at the emulator, and helpers to watch the
//! apiserver's KMS health and make it pick up a new key_id quickly.
//!
//! ```no_run
//! # async fn demo(emulator: &std::path::Path, plugin: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use secretkms_e2e::{ControlPlane, Options, kms::{KmsStack, KmsStackOptions}};
//! let stack = KmsStack::start(KmsStackOptions::new(emulator, plugin)).await?;
//! let cp = ControlPlane::start(Options { encryption: stack.encryption("e2e"), ..Default::default() }).await?;
//! stack.admin().rotate(stack.key()).await?;
//! # Ok(()) }
//! ```

pub mod emulator_admin;
pub mod encrypted_object;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http_body_util::BodyExt as _;
use kube::Client;
use secretkms_kms_emulator::{DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET};
use secretkms_kms_plugin::client;
use secretkms_kms_plugin::proto::StatusResponse;
use secretkms_kms_plugin::socket::SocketAddress;

use crate::encryption::Encryption;
use crate::error::HarnessError;
use crate::layout::KeyIdMode;
use crate::process::{Supervised, tail};
use crate::tcp_proxy::TcpProxy;

pub use emulator_admin::EmulatorAdmin;
pub use encrypted_object::EncryptedObject;

/// Errors of the KMS part of the harness.
#[derive(Debug, thiserror::Error)]
pub enum KmsStackError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("kms emulator: {0}")]
    Emulator(String),
    #[error("kms plugin: {0}")]
    Plugin(String),
    #[error("kube-apiserver kms: {0}")]
    Apiserver(String),
}

pub type Result<T, E = KmsStackError> = std::result::Result<T, E>;

/// How to start the stack. `new` fills in the defaults the tests use.
#[derive(Debug, Clone)]
pub struct KmsStackOptions {
    /// The emulator executable (`env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e")`).
    pub emulator_bin: PathBuf,
    /// The plugin executable (`env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e")`).
    pub plugin_bin: PathBuf,
    /// The CMK the plugin uses, created in the emulator as `--seed-key alias=<name>`.
    pub key_alias: String,
    /// The plugin's DescribeKey poll interval; short so tests see state changes quickly.
    pub poll_interval: Duration,
    /// How the plugin names its key (`--key-id-mode`, passed only when not the default, so a
    /// plugin without the flag still starts).
    pub key_id_mode: KeyIdMode,
    /// How many plugin processes, each on its own socket, all on the same emulator and CMK
    /// (one per apiserver of a highly available control plane).
    pub plugins: usize,
    /// Serve on Linux abstract sockets (`unix:///@name`) instead of socket files. KMS v1 needs
    /// this: kube-apiserver's v1 client sends the dialled address as the HTTP/2 `:authority`,
    /// percent-encoding the slashes of a socket path, which the h2 crate under the plugin
    /// refuses; an abstract name has no slash (kms-plugin/README.md, "Known limit").
    pub abstract_sockets: bool,
    /// Put a [`TcpProxy`] between the plugins and the emulator, so a test can take the network
    /// path to KMS down and bring it back ([`KmsStack::kms_offline`], [`KmsStack::kms_online`])
    /// without losing the emulator's keys.
    pub kms_link: bool,
}

impl KmsStackOptions {
    pub fn new(emulator_bin: impl Into<PathBuf>, plugin_bin: impl Into<PathBuf>) -> Self {
        Self {
            emulator_bin: emulator_bin.into(),
            plugin_bin: plugin_bin.into(),
            key_alias: "alias/k8s-secrets".into(),
            poll_interval: Duration::from_secs(1),
            key_id_mode: KeyIdMode::default(),
            plugins: 1,
            abstract_sockets: false,
            kms_link: false,
        }
    }
}

/// A running emulator and its plugins. Dropping it stops them all (plugins first).
#[derive(Debug)]
pub struct KmsStack {
    // Field order is drop order: the plugins go before the emulator they talk to.
    plugins: Vec<Supervised>,
    link: Option<Link>,
    emulator: Supervised,
    admin: EmulatorAdmin,
    key: String,
    sockets: Vec<PathBuf>,
    dir: PathBuf,
    _tempdir: tempfile::TempDir,
}

impl KmsStack {
    /// Starts the emulator with one AES-256 key, then the plugin on `<dir>/kms.sock` (further
    /// plugins on `<dir>/kms-<i>.sock`), and waits until every plugin's Status is healthy. The
    /// directory is short (`/tmp/skms-kms-*`) because unix socket paths are limited to 107 bytes.
    pub async fn start(options: KmsStackOptions) -> Result<Self> {
        let tempdir = tempfile::Builder::new()
            .prefix("skms-kms-")
            .tempdir_in("/tmp")
            .map_err(HarnessError::io("creating the kms directory in /tmp"))?;
        let dir = tempdir.path().to_path_buf();

        let alias = options.key_alias.trim_start_matches("alias/");
        let emulator_log = dir.join("kms-emulator.log");
        let mut emulator = Supervised::spawn(
            "kms emulator",
            &options.emulator_bin,
            &[
                "--listen=127.0.0.1:0".into(),
                format!("--seed-key=alias={alias},spec=Aliyun_AES_256"),
            ],
            &emulator_log,
        )?;
        let url = wait_for_url(&mut emulator).await?;
        let admin = EmulatorAdmin::new(url.clone());
        let key = admin.key_id(&options.key_alias).await?;
        let link = options.kms_link.then(|| Link::to(&url)).transpose()?;
        let plugin_url = link.as_ref().map_or(url.clone(), Link::url);

        let mut plugins = Vec::new();
        let mut sockets = Vec::new();
        for i in 0..options.plugins.max(1) {
            let (socket, log) = match i {
                0 => (dir.join("kms.sock"), dir.join("kms-plugin.log")),
                i => (
                    dir.join(format!("kms-{i}.sock")),
                    dir.join(format!("kms-plugin-{i}.log")),
                ),
            };
            // `/@<name>` is what `unix://` + path must read for an abstract socket; the name is
            // the temporary directory's, unique on this machine.
            let socket = if options.abstract_sockets {
                let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
                PathBuf::from(format!("/@{}-{i}", name.unwrap_or_default()))
            } else {
                socket
            };
            plugins.push(spawn_plugin(&options, &plugin_url, &socket, &log)?);
            sockets.push(socket);
        }
        let mut stack = Self {
            plugins,
            link,
            emulator,
            admin,
            key,
            sockets,
            dir,
            _tempdir: tempdir,
        };
        stack.wait_healthy().await?;
        Ok(stack)
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        for i in 0..self.plugins.len() {
            let since = Instant::now();
            loop {
                self.plugins[i].check_alive()?;
                self.emulator.check_alive()?;
                let last = match self.status_of(i).await {
                    Ok(s) if s.healthz == "ok" => break,
                    Ok(s) => format!("healthz {:?}", s.healthz),
                    Err(e) => e.to_string(),
                };
                if since.elapsed() > Duration::from_secs(30) {
                    return Err(self.plugins[i].not_ready(since, last).into());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }

    /// Takes the network path from the plugins to KMS down: new connections are closed and
    /// established ones cut. Needs [`KmsStackOptions::kms_link`].
    pub fn kms_offline(&self) -> Result<()> {
        let link = self.link()?;
        link.proxy.set_backends(&[]);
        link.proxy.cut();
        Ok(())
    }

    /// Brings the network path to KMS back.
    pub fn kms_online(&self) -> Result<()> {
        let link = self.link()?;
        link.proxy.set_backends(&[link.emulator]);
        Ok(())
    }

    /// Connections to KMS the plugins opened while it was offline: proof an outage met their calls.
    pub fn kms_connections_turned_away(&self) -> Result<u64> {
        Ok(self.link()?.proxy.turned_away())
    }

    fn link(&self) -> Result<&Link> {
        self.link.as_ref().ok_or_else(|| {
            KmsStackError::Emulator("started without `kms_link`: the path to KMS is fixed".into())
        })
    }

    /// Errors with the log's tail if a plugin or the emulator has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        for plugin in &mut self.plugins {
            plugin.check_alive()?;
        }
        Ok(self.emulator.check_alive()?)
    }

    /// The emulator's controls.
    pub fn admin(&self) -> &EmulatorAdmin {
        &self.admin
    }

    /// The emulator's base URL.
    pub fn emulator_url(&self) -> &str {
        self.admin.url()
    }

    /// The CMK's id (the alias resolved).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The (first) plugin's socket file.
    pub fn socket(&self) -> &Path {
        &self.sockets[0]
    }

    /// Every plugin's socket file, in the order of [`KmsStackOptions::plugins`].
    pub fn sockets(&self) -> &[PathBuf] {
        &self.sockets
    }

    /// Logs and the socket live here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The EncryptionConfiguration provider for this plugin (3 s timeout, as upstream's default).
    pub fn encryption(&self, name: &str) -> Encryption {
        Encryption::KmsV2 {
            name: name.into(),
            socket: self.sockets[0].clone(),
            timeout_secs: 3,
        }
    }

    /// The (first) plugin's Status, over its socket as the apiserver asks it.
    pub async fn status(&self) -> Result<StatusResponse> {
        self.status_of(0).await
    }

    /// Plugin `i`'s Status.
    pub async fn status_of(&self, i: usize) -> Result<StatusResponse> {
        let address = SocketAddress::parse(&format!("unix://{}", self.sockets[i].display()))
            .map_err(KmsStackError::Plugin)?;
        let mut c = client::connect(&address)
            .await
            .map_err(|e| KmsStackError::Plugin(format!("connecting to {address}: {e}")))?;
        client::status(&mut c)
            .await
            .map_err(|e| KmsStackError::Plugin(format!("Status: {e}")))
    }

    /// Polls Status until `done` holds, for at most `timeout`.
    pub async fn wait_status(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&StatusResponse) -> bool,
    ) -> Result<StatusResponse> {
        let since = Instant::now();
        loop {
            let s = self.status().await?;
            if done(&s) {
                return Ok(s);
            }
            if since.elapsed() > timeout {
                return Err(KmsStackError::Plugin(format!(
                    "waited {}s for {what}; last Status {s:?}; plugin log:\n{}",
                    timeout.as_secs(),
                    self.plugin_log_tail(20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn plugin_log_tail(&self, lines: usize) -> String {
        tail(&self.plugins[0].log, lines)
    }

    /// Plugin `i`'s log's last lines.
    pub fn plugin_log_tail_of(&self, i: usize, lines: usize) -> String {
        tail(&self.plugins[i].log, lines)
    }

    pub fn emulator_log_tail(&self, lines: usize) -> String {
        tail(&self.emulator.log, lines)
    }
}

/// The plugins' network path to the emulator.
#[derive(Debug)]
struct Link {
    proxy: TcpProxy,
    emulator: SocketAddr,
}

impl Link {
    fn to(emulator_url: &str) -> Result<Self> {
        let emulator = emulator_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse::<SocketAddr>()
            .map_err(|e| KmsStackError::Emulator(format!("its URL {emulator_url}: {e}")))?;
        Ok(Self {
            proxy: TcpProxy::start(&[emulator])?,
            emulator,
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.proxy.addr())
    }
}

/// Starts one plugin on `socket`, pointed at the emulator at `url`.
fn spawn_plugin(
    options: &KmsStackOptions,
    url: &str,
    socket: &Path,
    log: &Path,
) -> Result<Supervised> {
    // The emulator's AccessKey is a fixed test value, not a secret. Passing it through
    // `env` keeps the watchdog's process tree unchanged (env execs the plugin).
    let mut args: Vec<String> = emulator_credentials()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    args.extend([
        options.plugin_bin.display().to_string(),
        format!("--listen=unix://{}", socket.display()),
        format!("--key-id={}", options.key_alias),
        format!("--endpoint={url}"),
        format!(
            "--poll-interval={}ms",
            options.poll_interval.as_millis().max(1)
        ),
        "--log=info,secretkms_kms_plugin=debug".into(),
    ]);
    if options.key_id_mode != KeyIdMode::default() {
        args.push(format!("--key-id-mode={}", options.key_id_mode.as_str()));
    }
    if options.abstract_sockets {
        // What KMS v1 layouts need, and what the plugin refuses unless told.
        args.push("--allow-abstract-socket".into());
    }
    Ok(Supervised::spawn(
        "kms plugin",
        Path::new("/usr/bin/env"),
        &args,
        log,
    )?)
}

/// The emulator prints its URL as the first stdout line (into its log here).
pub(crate) async fn wait_for_url(emulator: &mut Supervised) -> Result<String> {
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(20) {
        emulator.check_alive()?;
        let text = std::fs::read_to_string(&emulator.log).unwrap_or_default();
        if let Some(url) = text.lines().find(|l| l.starts_with("http://")) {
            return Ok(url.trim().to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(emulator
        .not_ready(since, "no URL on the first stdout line")
        .into())
}

/// The environment that makes a process find the emulator's AccessKey through the real
/// credential chain, and nothing else (no CLI profile, no ECS metadata). The key is a fixed test
/// value, not a secret.
pub fn emulator_credentials() -> Vec<(String, String)> {
    vec![
        (
            "ALIBABA_CLOUD_ACCESS_KEY_ID".into(),
            DEFAULT_ACCESS_KEY_ID.into(),
        ),
        (
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET".into(),
            DEFAULT_ACCESS_KEY_SECRET.into(),
        ),
        ("ALIBABA_CLOUD_ECS_METADATA_DISABLED".into(), "true".into()),
        ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED".into(), "true".into()),
    ]
}

/// The apiserver's single KMS health check, `/readyz/kms-providers`: HTTP status and body.
/// Each call runs the check unless a result is cached (20 s after a success, 3 s after a
/// failure); running it calls the plugin's Status and, on a new key_id, rotates the seed.
pub async fn kms_providers_readyz(client: &Client) -> Result<(u16, String)> {
    let request = http::Request::get("/readyz/kms-providers")
        .body(Vec::new())
        .expect("static request is valid");
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .map_err(|e| KmsStackError::Apiserver(format!("GET /readyz/kms-providers: {e}")))?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| KmsStackError::Apiserver(format!("reading /readyz/kms-providers: {e}")))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Asks `/readyz/kms-providers` every `every` until `done(status, body)` holds or `timeout`
/// passes; returns the answer and how long it took.
pub async fn wait_kms_providers(
    client: &Client,
    what: &str,
    timeout: Duration,
    done: impl Fn(u16, &str) -> bool,
) -> Result<(u16, String, Duration)> {
    let since = Instant::now();
    loop {
        let (status, body) = kms_providers_readyz(client).await?;
        if done(status, &body) {
            return Ok((status, body, since.elapsed()));
        }
        if since.elapsed() > timeout {
            return Err(KmsStackError::Apiserver(format!(
                "waited {}s for {what}; /readyz/kms-providers last answered {status}: {body}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Makes the apiserver adopt the plugin's new key_id now rather than at its next minute poll
/// (control-plane.md §6): the health check, which rotates the seed on a key_id change, runs
/// again once its 20 s positive cache expires, so this asks `/readyz/kms-providers` every
/// second while `adopted` (e.g. "a fresh write names the new keyID in etcd") is false.
pub async fn await_key_id_adoption<F, Fut>(
    client: &Client,
    timeout: Duration,
    mut adopted: F,
) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    let since = Instant::now();
    loop {
        let (status, body) = kms_providers_readyz(client).await?;
        if status == 200 && adopted().await? {
            return Ok(since.elapsed());
        }
        if since.elapsed() > timeout {
            return Err(KmsStackError::Apiserver(format!(
                "the new key_id was not adopted within {}s; /readyz/kms-providers answered {status}: {body}",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
