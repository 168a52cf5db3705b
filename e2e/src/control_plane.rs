//! A real etcd + kube-apiserver on loopback with real TLS: a CA, serving certificates, a
//! ServiceAccount signing key and an admin client-certificate kubeconfig. One per test binary
//! ([`ControlPlane::shared`]), or as many as a test needs ([`ControlPlane::start`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::binaries::Binaries;
use crate::encryption::Encryption;
use crate::error::{HarnessError, Result};
use crate::etcd::{Etcd, EtcdReader};
use crate::kubeconfig;
use crate::pki::{self, Ca, CertPair};
use crate::process::{Janitor, Supervised, free_port};

/// The label every test namespace carries; test webhooks select on it so that a broken webhook
/// never blocks writes outside the tests.
pub const TEST_NAMESPACE_LABEL: &str = "secretkms-e2e";

/// How to start a control plane. `Default` is a plain cluster without encryption.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub encryption: Encryption,
    /// Extra kube-apiserver flags, e.g. `--feature-gates=...`.
    pub extra_apiserver_args: Vec<String>,
    /// Keep the working directory (certificates, logs, kubeconfig) after stopping.
    pub keep_dir: bool,
}

/// A running control plane. Dropping it stops both processes; so does the end of the process,
/// even when this value lives in a static (see [`crate::process`]).
#[derive(Debug)]
pub struct ControlPlane {
    // Field order is drop order: the apiserver goes before its etcd.
    apiserver: Supervised,
    etcd: Etcd,
    ca: Ca,
    binaries: Binaries,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    /// Removes `dir` at process exit when this value is never dropped (the shared one).
    _janitor: Option<Janitor>,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// An admin (system:masters) kubeconfig.
    pub kubeconfig: PathBuf,
    /// The EncryptionConfiguration file, when encryption was configured.
    pub encryption_config: Option<PathBuf>,
    /// How long the apiserver took from spawn to `/readyz` = ok.
    pub ready_in: Duration,
}

impl ControlPlane {
    /// The control plane shared by every test in this test binary (a plain cluster, no
    /// encryption). Panics with the harness's message when it cannot start, so each test
    /// reports why.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<ControlPlane> = OnceLock::new();
        SHARED.get_or_init(|| {
            Self::start_blocking(Options::default()).unwrap_or_else(|e| panic!("{e}"))
        })
    }

    /// Starts a control plane from synchronous code (or from inside any runtime): the start
    /// runs on its own thread and runtime, so the result is not tied to the caller's runtime.
    pub fn start_blocking(options: Options) -> Result<Self> {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(HarnessError::io("building a runtime"))?
                .block_on(Self::start(options))
        })
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// Starts etcd, then kube-apiserver, and waits until `/readyz` says ok.
    pub async fn start(options: Options) -> Result<Self> {
        secretkms_alibaba::install_crypto_provider();
        let binaries = Binaries::get()?;
        let tempdir = tempfile::Builder::new()
            .prefix("skms-")
            .tempdir_in("/tmp")
            .map_err(HarnessError::io("creating a working directory in /tmp"))?;
        let dir = tempdir.path().to_path_buf();
        let (tempdir, janitor) = if options.keep_dir {
            let _ = tempdir.keep();
            (None, None)
        } else {
            (Some(tempdir), Some(Janitor::remove_on_exit(&dir)?))
        };

        let ca = Ca::new("secretkms-e2e-ca")?;
        let serving = ca.serving(
            "kube-apiserver",
            &["127.0.0.1", "localhost", "kubernetes.default.svc"],
        )?;
        let admin = ca.client("secretkms-e2e-admin", Some("system:masters"))?;
        let (sa_key, sa_pub) = pki::service_account_keys()?;
        write(&dir.join("ca.crt"), &ca.cert_pem())?;
        write_pair(&dir, "serving", &serving)?;
        write(&dir.join("sa.key"), &sa_key)?;
        write(&dir.join("sa.pub"), &sa_pub)?;
        let encryption_config = match options.encryption.to_yaml() {
            Some(yaml) => {
                let path = dir.join("encryption.yaml");
                write(&path, &yaml)?;
                Some(path)
            }
            None => None,
        };

        let etcd = Etcd::start(&binaries.etcd(), &dir).await?;

        let mut attempt = 0;
        let (apiserver, server, ready_in) = loop {
            attempt += 1;
            let port = free_port()?;
            let mut args = apiserver_args(&dir, port, &etcd.endpoint, encryption_config.as_deref());
            args.extend(options.extra_apiserver_args.iter().cloned());
            let started = Instant::now();
            let mut process = Supervised::spawn(
                "kube-apiserver",
                &binaries.kube_apiserver(),
                &args,
                &dir.join("kube-apiserver.log"),
            )?;
            let server = format!("https://127.0.0.1:{port}");
            kubeconfig::write(&dir.join("kubeconfig"), &server, &ca.cert_pem(), &admin)?;
            match wait_ready(&mut process, &dir.join("kubeconfig")).await {
                Ok(()) => break (process, server, started.elapsed()),
                Err(e) if attempt < 3 && e.to_string().contains("address already in use") => {
                    continue;
                }
                Err(e) => return Err(e),
            }
        };

        Ok(Self {
            apiserver,
            etcd,
            ca,
            binaries,
            kubeconfig: dir.join("kubeconfig"),
            dir,
            _tempdir: tempdir,
            _janitor: janitor,
            server,
            encryption_config,
            ready_in,
        })
    }

    /// A new client for the admin kubeconfig. Make one per test: a kube client is bound to the
    /// runtime that created it, and each `#[tokio::test]` has its own.
    pub async fn client(&self) -> Result<Client> {
        kubeconfig::client(&self.kubeconfig).await
    }

    /// Raw reads of etcd.
    pub fn etcd(&self) -> EtcdReader {
        self.etcd.reader()
    }

    /// etcd's client URL.
    pub fn etcd_endpoint(&self) -> &str {
        &self.etcd.endpoint
    }

    /// The CA that signed every certificate here; tests use it to sign webhook certificates
    /// that the apiserver will trust through a caBundle.
    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    /// The working directory: certificates, logs, kubeconfig.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// `kubectl` (the one built with this apiserver) preset with the admin kubeconfig.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(self.binaries.kubectl());
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// The apiserver log's last lines, for failure messages.
    pub fn apiserver_log_tail(&self, lines: usize) -> String {
        crate::process::tail(&self.apiserver.log, lines)
    }

    /// Creates a fresh namespace carrying [`TEST_NAMESPACE_LABEL`] and returns its name. Tests
    /// never wait for namespaces to go away: no controller runs here to finalize them.
    pub async fn namespace(&self, client: &Client, purpose: &str) -> Result<String> {
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", sanitize(purpose))),
                labels: Some([(TEST_NAMESPACE_LABEL.to_string(), "on".to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let created = Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(created.metadata.name.unwrap_or_default())
    }
}

fn apiserver_args(dir: &Path, port: u16, etcd: &str, encryption: Option<&Path>) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    let mut args = vec![
        format!("--etcd-servers={etcd}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", p("serving.crt")),
        format!("--tls-private-key-file={}", p("serving.key")),
        format!("--client-ca-file={}", p("ca.crt")),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer=https://127.0.0.1:{port}"),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--cert-dir={}", p("apiserver-certs")),
        "--profiling=false".into(),
    ];
    if let Some(config) = encryption {
        args.push(format!("--encryption-provider-config={}", config.display()));
        args.push("--encryption-provider-config-automatic-reload=true".into());
    }
    args
}

async fn wait_ready(process: &mut Supervised, kubeconfig: &Path) -> Result<()> {
    let since = Instant::now();
    let client = kubeconfig::client(kubeconfig).await?;
    let mut last_error = String::from("not yet polled");
    while since.elapsed() < Duration::from_secs(90) {
        process.check_alive()?;
        let req = http::Request::get("/readyz")
            .body(Vec::new())
            .expect("static request is valid");
        match client.request_text(req).await {
            Ok(body) if body.trim() == "ok" => return Ok(()),
            Ok(body) => last_error = body,
            Err(e) => last_error = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(process.not_ready(since, last_error))
}

fn write(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(HarnessError::io(format!("writing {}", path.display())))
}

fn write_pair(dir: &Path, name: &str, pair: &CertPair) -> Result<()> {
    write(&dir.join(format!("{name}.crt")), &pair.cert_pem)?;
    write(&dir.join(format!("{name}.key")), &pair.key_pem)
}

fn sanitize(purpose: &str) -> String {
    let s: String = purpose
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "t".into() } else { s }
}
