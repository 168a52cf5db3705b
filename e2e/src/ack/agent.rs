//! The local ACK's cluster agent: a small HTTP endpoint on loopback that the emulator POSTs each
//! accepted `UpdateKMSEncryption` to ([`EncryptionChange`]), and that applies it to the real
//! control plane before answering — 200 when the apiserver is back and ready, 500 with the
//! reason otherwise (the emulator then marks the cluster `failed`).
//!
//! Applying a change: start a new KMS v2 plugin on a fresh socket with the
//! `AliyunCSManagedSecurityRole` STS credentials the change carries (so ActionTrail records that
//! role for every KMS call, as on ACK), wait until its Status is healthy, write the
//! EncryptionConfiguration (`kms`, `identity` to enable; `identity`, `kms` to disable — the KMS
//! provider keeps its name, so Secrets it wrote stay readable), restart the apiserver(s), and only
//! then stop the previous plugin. The server speaks just enough HTTP/1.1 for the emulator's one
//! request per connection.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use secretkms_kms_emulator::cs::agent::EncryptionChange;
use secretkms_kms_plugin::client;
use secretkms_kms_plugin::socket::SocketAddress;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::PROVIDER_NAME;
use crate::control_plane::ControlPlane;
use crate::encryption::{Encryption, KmsProvider, KmsVersion, Provider};
use crate::process::{Supervised, tail};

/// The largest request the agent reads (a change is well under 2 KiB).
const MAX_REQUEST: usize = 64 * 1024;

/// What the agent needs to apply changes.
#[derive(Debug)]
pub struct Config {
    pub control_plane: Arc<ControlPlane>,
    /// The KMS endpoint the plugin calls (the emulator).
    pub emulator_url: String,
    pub plugin_bin: PathBuf,
    /// Sockets and logs go here.
    pub dir: PathBuf,
}

#[derive(Debug)]
struct State {
    config: Config,
    /// The plugin the apiserver's configuration names now.
    plugin: tokio::sync::Mutex<Option<Supervised>>,
    generation: AtomicUsize,
    applied: AtomicUsize,
    log: PathBuf,
}

/// The running agent; dropping it stops serving and stops the plugin.
#[derive(Debug)]
pub struct Agent {
    task: tokio::task::JoinHandle<()>,
    state: Arc<State>,
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Agent {
    /// Serves on `listener` from now on, on the current runtime.
    pub fn serve(listener: TcpListener, config: Config) -> Self {
        let log = config.dir.join("ack-agent.log");
        let state = Arc::new(State {
            config,
            plugin: tokio::sync::Mutex::new(None),
            generation: AtomicUsize::new(0),
            applied: AtomicUsize::new(0),
            log,
        });
        let serving = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                serving.handle(stream).await;
            }
        });
        Self { task, state }
    }

    /// How many changes were applied successfully.
    pub fn applied(&self) -> usize {
        self.state.applied.load(Ordering::SeqCst)
    }

    /// The agent's log and the current plugin's, last lines of each.
    pub fn log_tail(&self, lines: usize) -> String {
        let plugin = self
            .state
            .plugin
            .try_lock()
            .ok()
            .and_then(|p| p.as_ref().map(|p| tail(&p.log, lines)))
            .unwrap_or_default();
        format!(
            "agent:\n{}\nplugin:\n{plugin}",
            tail(&self.state.log, lines)
        )
    }
}

impl State {
    fn note(&self, line: &str) {
        use std::io::Write as _;
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
        {
            let _ = writeln!(file, "{line}");
        }
    }

    async fn handle(&self, mut stream: TcpStream) {
        let (status, reason) = match read_body(&mut stream).await {
            Err(e) => ("400 Bad Request", format!("unreadable request: {e}")),
            Ok(body) => match serde_json::from_slice::<EncryptionChange>(&body) {
                Err(e) => ("400 Bad Request", format!("not an encryption change: {e}")),
                Ok(change) => {
                    let what = format!(
                        "cluster {} {} with key {}",
                        change.cluster_id,
                        if change.enabled { "enable" } else { "disable" },
                        change.kms_key_id
                    );
                    self.note(&format!("applying: {what}"));
                    let started = Instant::now();
                    match self.apply(&change).await {
                        Ok(()) => {
                            self.applied.fetch_add(1, Ordering::SeqCst);
                            let done = format!(
                                "applied in {:.1}s: {what}",
                                started.elapsed().as_secs_f64()
                            );
                            self.note(&done);
                            ("200 OK", String::new())
                        }
                        Err(reason) => {
                            self.note(&format!("failed: {what}: {reason}"));
                            ("500 Internal Server Error", reason)
                        }
                    }
                }
            },
        };
        let answer = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reason}",
            reason.len()
        );
        let _ = stream.write_all(answer.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    async fn apply(&self, change: &EncryptionChange) -> Result<(), String> {
        let mut current = self.plugin.lock().await;
        let n = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        let dir = &self.config.dir;
        let socket = dir.join(format!("ack-kms-{n}.sock"));
        let log = dir.join(format!("ack-kms-plugin-{n}.log"));
        let creds = &change.credentials;
        let env: Vec<(String, String)> = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", creds.access_key_id.as_str()),
            (
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
                creds.access_key_secret.as_str(),
            ),
            (
                "ALIBABA_CLOUD_SECURITY_TOKEN",
                creds.security_token.as_str(),
            ),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
            ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let args = vec![
            format!("--listen=unix://{}", socket.display()),
            format!("--key-id={}", change.kms_key_id),
            format!("--endpoint={}", self.config.emulator_url),
            "--poll-interval=1000ms".into(),
            "--log=info".into(),
        ];
        let mut plugin =
            Supervised::spawn_with_env("kms plugin", &self.config.plugin_bin, &args, &env, &log)
                .map_err(|e| e.to_string())?;
        wait_healthy(&mut plugin, &socket).await?;

        let kms = Provider::Kms(KmsProvider {
            version: KmsVersion::V2,
            name: PROVIDER_NAME.into(),
            socket,
            timeout_secs: 3,
        });
        let providers = if change.enabled {
            vec![kms, Provider::Identity]
        } else {
            vec![Provider::Identity, kms]
        };
        self.config
            .control_plane
            .reconfigure_encryption(&Encryption::Providers(providers))
            .await
            .map_err(|e| format!("restarting the apiserver: {e}"))?;
        // The old plugin goes only now: until the restart the apiserver still used it.
        let _previous = current.replace(plugin);
        Ok(())
    }
}

/// Waits until the plugin on `socket` answers Status with `healthz: ok`.
async fn wait_healthy(plugin: &mut Supervised, socket: &std::path::Path) -> Result<(), String> {
    let address = SocketAddress::parse(&format!("unix://{}", socket.display()))?;
    let since = Instant::now();
    let mut last = String::from("not yet asked");
    while since.elapsed() < Duration::from_secs(30) {
        plugin.check_alive().map_err(|e| e.to_string())?;
        match client::connect(&address).await {
            Ok(mut c) => match client::status(&mut c).await {
                Ok(s) if s.healthz == "ok" => return Ok(()),
                Ok(s) => last = format!("healthz {:?}", s.healthz),
                Err(e) => last = format!("Status: {e}"),
            },
            Err(e) => last = format!("connecting: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(plugin.not_ready(since, last).to_string())
}

/// Reads one HTTP/1.1 request and returns its body (by `content-length`).
async fn read_body(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if buffer.len() > MAX_REQUEST {
            return Err(std::io::Error::other("request head too large"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed before the body"));
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no content-length"))?;
    if length > MAX_REQUEST {
        return Err(std::io::Error::other("request body too large"));
    }
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed inside the body"));
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok(buffer[head_end..head_end + length].to_vec())
}
