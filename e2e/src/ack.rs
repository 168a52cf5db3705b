//! A local ACK: the KMS emulator's CS API driving a real control plane. The emulator holds one
//! cluster whose cluster agent ([`agent`]) is served here: when `UpdateKMSEncryption` is
//! accepted, the agent starts a KMS v2 plugin with the `AliyunCSManagedSecurityRole` credentials
//! the emulator hands it, rewrites the kube-apiserver's EncryptionConfiguration (enable: `kms`
//! first; disable: `identity` first with `kms` kept second, so Secrets written under KMS stay
//! readable), restarts the apiserver and reports done, and the cluster goes back to `running`.
//! The emulator itself links no Kubernetes; this crate is the side that does.
//!
//! ```no_run
//! # async fn demo(emulator: &std::path::Path, plugin: &std::path::Path) -> Result<(), Box<dyn std::error::Error>> {
//! use secretkms_e2e::ack::{LocalAck, LocalAckOptions};
//! let ack = LocalAck::start(LocalAckOptions::new(emulator, plugin)).await?;
//! println!("cluster {} in {} at {}", ack.cluster_id(), ack.region(), ack.emulator_url());
//! # Ok(()) }
//! ```

pub mod account_file;
pub mod agent;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;

use crate::control_plane::{ControlPlane, Options};
use crate::encryption::{Encryption, Provider};
use crate::error::HarnessError;
use crate::kms::wait_for_url;
use crate::layout::Reload;
use crate::process::Supervised;
use secretkms_kms_emulator::{CS_SECURITY_ROLE, CS_SECURITY_ROLE_POLICY};

pub use account_file::AckUser;
pub use agent::Agent;

/// The cluster's id in the emulator.
pub const CLUSTER_ID: &str = "c-secretkms-local";
/// The cluster's region (the emulator's).
pub const REGION: &str = "cn-hangzhou";
/// The CMK the emulator is seeded with, for Secret encryption.
pub const KEY_ALIAS: &str = "alias/ack-secrets";
/// The `kms` provider's name in the EncryptionConfiguration; part of the stored prefix
/// `k8s:enc:kms:v2:<name>:`, so it stays the same across enable and disable.
pub const PROVIDER_NAME: &str = "ack-kms";

/// Errors of the local ACK.
#[derive(Debug, thiserror::Error)]
pub enum LocalAckError {
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error("local ack: {0}")]
    Setup(String),
}

impl From<crate::kms::KmsStackError> for LocalAckError {
    fn from(error: crate::kms::KmsStackError) -> Self {
        match error {
            crate::kms::KmsStackError::Harness(h) => Self::Harness(h),
            other => Self::Setup(other.to_string()),
        }
    }
}

pub type Result<T, E = LocalAckError> = std::result::Result<T, E>;

/// How to start it.
#[derive(Debug, Clone)]
pub struct LocalAckOptions {
    /// The emulator executable (`env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e")`).
    pub emulator_bin: PathBuf,
    /// The KMS v2 plugin executable (`env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e")`).
    pub plugin_bin: PathBuf,
    /// Seconds ACK wants between two `UpdateKMSEncryption` calls (300 as on ACK).
    pub cool_down_seconds: u64,
    /// Keep the control plane's directory after stopping (the dev binary does).
    pub keep_dir: bool,
}

impl LocalAckOptions {
    pub fn new(emulator_bin: impl Into<PathBuf>, plugin_bin: impl Into<PathBuf>) -> Self {
        Self {
            emulator_bin: emulator_bin.into(),
            plugin_bin: plugin_bin.into(),
            cool_down_seconds: secretkms_kms_emulator::DEFAULT_COOL_DOWN_SECONDS,
            keep_dir: false,
        }
    }
}

/// A running local ACK. Dropping it stops the agent, the plugin, the control plane and the
/// emulator.
#[derive(Debug)]
pub struct LocalAck {
    // Field order is drop order: the agent (and the plugin it owns) before the control plane
    // and the emulator it talks to.
    agent: Agent,
    control_plane: Arc<ControlPlane>,
    emulator: Supervised,
    emulator_url: String,
    key_id: String,
    admin: AckUser,
    developer: AckUser,
    dir: PathBuf,
    _tempdir: tempfile::TempDir,
}

impl LocalAck {
    /// Starts a control plane whose Secrets are stored by `identity` (an EncryptionConfiguration
    /// file exists, so enabling KMS is a rewrite and a restart, not a new flag), the cluster
    /// agent, and the emulator with the cluster and two RAM users: an admin of the cluster with
    /// `AliyunKMSCryptoAdminAccess`, and a developer of it.
    pub async fn start(options: LocalAckOptions) -> Result<Self> {
        let tempdir = tempfile::Builder::new()
            .prefix("skms-ack-")
            .tempdir_in("/tmp")
            .map_err(HarnessError::io("creating the local ack directory in /tmp"))?;
        let dir = tempdir.path().to_path_buf();
        let control_plane = Arc::new(
            ControlPlane::start(Options {
                encryption: Encryption::Providers(vec![Provider::Identity]),
                reload: Reload::Off,
                keep_dir: options.keep_dir,
                ..Default::default()
            })
            .await?,
        );
        let version = control_plane
            .client()
            .await?
            .apiserver_version()
            .await
            .map_err(HarnessError::Kube)?
            .git_version;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(HarnessError::io("binding the cluster agent on loopback"))?;
        let agent_url = format!(
            "http://{}/apply",
            listener
                .local_addr()
                .map_err(HarnessError::io("reading the cluster agent's address"))?
        );
        let admin = AckUser::new("ack-admin", random_secret());
        let developer = AckUser::new("ack-developer", random_secret());
        let account = account_file::write(
            &dir,
            &account_file::Cluster {
                cluster_id: CLUSTER_ID,
                version: &ack_version(&version),
                agent_url: &agent_url,
                cool_down_seconds: options.cool_down_seconds,
            },
            &admin,
            &developer,
        )?;
        let alias = KEY_ALIAS.trim_start_matches("alias/");
        let mut emulator = Supervised::spawn(
            "kms emulator",
            &options.emulator_bin,
            &[
                "--listen=127.0.0.1:0".into(),
                format!("--region={REGION}"),
                format!("--seed-key=alias={alias},spec=Aliyun_AES_256"),
                format!("--account-file={}", account.display()),
            ],
            &dir.join("kms-emulator.log"),
        )?;
        let emulator_url = wait_for_url(&mut emulator).await?;
        let key_id = crate::kms::EmulatorAdmin::new(emulator_url.clone())
            .key_id(KEY_ALIAS)
            .await?;
        let agent = Agent::serve(
            listener,
            agent::Config {
                control_plane: control_plane.clone(),
                emulator_url: emulator_url.clone(),
                plugin_bin: options.plugin_bin,
                dir: dir.clone(),
            },
        );
        Ok(Self {
            agent,
            control_plane,
            emulator,
            emulator_url,
            key_id,
            admin,
            developer,
            dir,
            _tempdir: tempdir,
        })
    }

    /// The real control plane the cluster is.
    pub fn control_plane(&self) -> &ControlPlane {
        &self.control_plane
    }

    pub fn cluster_id(&self) -> &str {
        CLUSTER_ID
    }

    pub fn region(&self) -> &str {
        REGION
    }

    /// The emulator's base URL: the endpoint of CS, KMS, RAM, STS, ActionTrail and BSS.
    pub fn emulator_url(&self) -> &str {
        &self.emulator_url
    }

    /// The id of [`KEY_ALIAS`].
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The RAM user with the cluster's admin role and `AliyunKMSCryptoAdminAccess`.
    pub fn admin(&self) -> &AckUser {
        &self.admin
    }

    /// A RAM user with only the cluster's developer role.
    pub fn developer(&self) -> &AckUser {
        &self.developer
    }

    /// Logs, the account file and the plugin sockets live here.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// How many changes the agent has applied.
    pub fn applied(&self) -> usize {
        self.agent.applied()
    }

    /// Ends the cluster's cool-down now (an emulator control), so a test can disable right
    /// after it enabled.
    pub async fn end_cool_down(&self) -> Result<()> {
        self.control(
            reqwest::Method::DELETE,
            &format!("/_emulator/clusters/{CLUSTER_ID}/cool-down"),
            None,
        )
        .await
    }

    /// Takes back the account's authorization of ACK (`AliyunCSManagedSecurityRole` gone), as
    /// on an account that never authorized it.
    pub async fn revoke_security_role(&self) -> Result<()> {
        self.control(
            reqwest::Method::DELETE,
            &format!("/_emulator/account/roles/{CS_SECURITY_ROLE}"),
            None,
        )
        .await
    }

    /// Authorizes ACK's security role with its system policy, as the console's authorization
    /// page does.
    pub async fn authorize_security_role(&self) -> Result<()> {
        let body = serde_json::json!({
            "description": "ACK's access to KMS for Secret encryption",
            "policies": [CS_SECURITY_ROLE_POLICY],
        });
        self.control(
            reqwest::Method::PUT,
            &format!("/_emulator/account/roles/{CS_SECURITY_ROLE}"),
            Some(body),
        )
        .await
    }

    /// One call of the emulator's admin API.
    async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<()> {
        let url = format!("{}{path}", self.emulator_url);
        let mut request = reqwest::Client::new().request(method.clone(), &url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .map_err(|e| LocalAckError::Setup(format!("{method} {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(LocalAckError::Setup(format!(
                "{method} {url}: http {}",
                response.status()
            )));
        }
        Ok(())
    }

    /// The emulator log's last lines, for failure messages.
    pub fn emulator_log_tail(&self, lines: usize) -> String {
        crate::process::tail(&self.emulator.log, lines)
    }

    /// The agent's and the current plugin's log's last lines, for failure messages.
    pub fn agent_log_tail(&self, lines: usize) -> String {
        self.agent.log_tail(lines)
    }
}

/// ACK's spelling of a Kubernetes version: `1.36.0-aliyun.1` for `v1.36.0`.
fn ack_version(git_version: &str) -> String {
    let plain = git_version.trim_start_matches('v');
    let plain = plain.split(['-', '+']).next().unwrap_or(plain);
    format!("{plain}-aliyun.1")
}

/// 24 random bytes, URL-safe base64: an AccessKey secret for a local user.
fn random_secret() -> String {
    use std::io::Read as _;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("/dev/urandom is readable");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_spelled_as_ack_does() {
        assert_eq!(ack_version("v1.36.0"), "1.36.0-aliyun.1");
        assert_eq!(ack_version("v1.36.0-rc.1+abc"), "1.36.0-aliyun.1");
        assert_ne!(random_secret(), random_secret());
    }
}
