//! A real etcd + kube-apiserver on loopback with real TLS: a CA, serving certificates, a
//! ServiceAccount signing key and an admin client-certificate kubeconfig. One per test binary
//! ([`ControlPlane::shared`]), or as many as a test needs ([`ControlPlane::start`]). Several
//! apiservers can share the etcd, as in a highly available control plane
//! ([`Options::more_apiservers`]).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::binaries::Binaries;
use crate::encryption::Encryption;
use crate::error::{HarnessError, Result};
use crate::etcd::{Etcd, EtcdReader};
use crate::kubeconfig;
use crate::layout::Reload;
use crate::pki::{self, Ca, CertPair};
use crate::process::{Janitor, Supervised, free_port, lost_port_race};

/// The label every test namespace carries; test webhooks select on it so that a broken webhook
/// never blocks writes outside the tests.
pub const TEST_NAMESPACE_LABEL: &str = "secretkms-e2e";

/// How to start a control plane. `Default` is a plain cluster without encryption.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub encryption: Encryption,
    /// More kube-apiservers on the same etcd, one per entry with its own EncryptionConfiguration
    /// (the same providers with its own KMS plugin's socket, typically). Each has its own port
    /// and serving certificate and shares the CA, the ServiceAccount keys and issuer, and the
    /// admin credentials. Empty: one apiserver.
    pub more_apiservers: Vec<Encryption>,
    /// `--encryption-provider-config-automatic-reload`, when encryption is configured.
    pub reload: Reload,
    /// Extra kube-apiserver flags (for every apiserver), e.g. `--feature-gates=...`. A KMS v1
    /// provider adds `--feature-gates=KMSv1=true` by itself.
    pub extra_apiserver_args: Vec<String>,
    /// Keep the working directory (certificates, logs, kubeconfig) after stopping.
    pub keep_dir: bool,
}

/// One running kube-apiserver of a control plane.
#[derive(Debug)]
pub struct Apiserver {
    /// Behind a lock so [`Apiserver::restart`] can replace it through a shared reference.
    process: Mutex<Supervised>,
    /// The executable and flags it was started with, for restarts.
    program: PathBuf,
    args: Vec<String>,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// An admin (system:masters) kubeconfig for this apiserver alone.
    pub kubeconfig: PathBuf,
    /// Its EncryptionConfiguration file, when encryption was configured.
    pub encryption_config: Option<PathBuf>,
    /// How long it took from spawn to `/readyz` = ok.
    pub ready_in: Duration,
}

impl Apiserver {
    /// A new client for this apiserver (one per test: a kube client is bound to its runtime).
    pub async fn client(&self) -> Result<Client> {
        kubeconfig::client(&self.kubeconfig).await
    }

    /// Its log's last lines, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.lock().log.clone();
        crate::process::tail(&log, lines)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Supervised> {
        self.process.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops this apiserver and starts it again with the same flags, port and files — how a
    /// managed control plane applies a changed EncryptionConfiguration — and waits for
    /// `/readyz`. The previous run's log is kept as `<log>.previous`. Blocks the thread while
    /// the old process stops.
    pub async fn restart(&self) -> Result<Duration> {
        let log = {
            let mut process = self.lock();
            process.stop(Duration::from_secs(15));
            let log = process.log.clone();
            let _ = std::fs::rename(&log, log.with_extension("log.previous"));
            log
        };
        let started = Instant::now();
        let replacement = Supervised::spawn("kube-apiserver", &self.program, &self.args, &log)?;
        *self.lock() = replacement;
        let client = kubeconfig::client(&self.kubeconfig).await?;
        let mut last_error = String::from("not yet polled");
        while started.elapsed() < Duration::from_secs(90) {
            self.lock().check_alive()?;
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .expect("static request is valid");
            match client.request_text(req).await {
                Ok(body) if body.trim() == "ok" => return Ok(started.elapsed()),
                Ok(body) => last_error = body,
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(self.lock().not_ready(started, last_error))
    }
}

/// A running control plane. Dropping it stops every process; so does the end of the process,
/// even when this value lives in a static (see [`crate::process`]).
#[derive(Debug)]
pub struct ControlPlane {
    // Field order is drop order: the apiservers go before their etcd.
    apiservers: Vec<Apiserver>,
    etcd: Etcd,
    ca: Ca,
    binaries: Binaries,
    dir: PathBuf,
    _tempdir: Option<tempfile::TempDir>,
    /// Removes `dir` at process exit when this value is never dropped (the shared one).
    _janitor: Option<Janitor>,
    /// The first apiserver's `https://127.0.0.1:<port>`.
    pub server: String,
    /// An admin (system:masters) kubeconfig for the first apiserver.
    pub kubeconfig: PathBuf,
    /// The first apiserver's EncryptionConfiguration file, when encryption was configured.
    pub encryption_config: Option<PathBuf>,
    /// How long the first apiserver took from spawn to `/readyz` = ok.
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

    /// Starts etcd, then each kube-apiserver in turn, and waits until each `/readyz` says ok.
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
        let admin = ca.client("secretkms-e2e-admin", Some("system:masters"))?;
        let (sa_key, sa_pub) = pki::service_account_keys()?;
        write(&dir.join("ca.crt"), &ca.cert_pem())?;
        write(&dir.join("sa.key"), &sa_key)?;
        write(&dir.join("sa.pub"), &sa_pub)?;

        let etcd = Etcd::start(&binaries.etcd(), &dir).await?;

        let encryptions = std::iter::once(&options.encryption).chain(&options.more_apiservers);
        let mut apiservers: Vec<Apiserver> = Vec::new();
        for (index, encryption) in encryptions.enumerate() {
            let issuer = apiservers.first().map(|a| a.server.clone());
            let shared = Shared {
                dir: &dir,
                binaries: &binaries,
                ca: &ca,
                admin: &admin,
                etcd: &etcd.endpoint,
                // Every apiserver signs and accepts tokens as the first one, like replicas
                // behind one address.
                issuer: issuer.as_deref(),
                options: &options,
            };
            apiservers.push(start_apiserver(&shared, index, encryption).await?);
        }
        let first = &apiservers[0];

        Ok(Self {
            server: first.server.clone(),
            kubeconfig: first.kubeconfig.clone(),
            encryption_config: first.encryption_config.clone(),
            ready_in: first.ready_in,
            apiservers,
            etcd,
            ca,
            binaries,
            dir,
            _tempdir: tempdir,
            _janitor: janitor,
        })
    }

    /// Every apiserver, the first one first (the one `server` and `kubeconfig` name).
    pub fn apiservers(&self) -> &[Apiserver] {
        &self.apiservers
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

    /// Writes `encryption` into every apiserver's EncryptionConfiguration file and restarts
    /// them one after the other, as a managed control plane rolls out a configuration change.
    /// Each must have been started with a configuration file.
    pub async fn reconfigure_encryption(&self, encryption: &Encryption) -> Result<()> {
        let yaml = encryption.to_yaml().ok_or_else(|| {
            HarnessError::io("reconfiguring encryption")(std::io::Error::other(
                "the new configuration writes no file; give a provider list",
            ))
        })?;
        for apiserver in &self.apiservers {
            let path = apiserver.encryption_config.as_ref().ok_or_else(|| {
                HarnessError::io("reconfiguring encryption")(std::io::Error::other(format!(
                    "apiserver {} was started without an EncryptionConfiguration",
                    apiserver.server
                )))
            })?;
            write(path, &yaml)?;
            apiserver.restart().await?;
        }
        Ok(())
    }

    /// The apiserver log's last lines, for failure messages.
    pub fn apiserver_log_tail(&self, lines: usize) -> String {
        self.apiservers[0].log_tail(lines)
    }

    /// Creates a fresh namespace carrying [`TEST_NAMESPACE_LABEL`] and returns its name. Tests
    /// never wait for namespaces to go away: no controller runs here to finalize them.
    pub async fn namespace(&self, client: &Client, purpose: &str) -> Result<String> {
        self.labelled_namespace(client, purpose, &[]).await
    }

    /// Like [`ControlPlane::namespace`], with `labels` as well. Labels a webhook's
    /// namespaceSelector matches must be there at creation: the apiserver matches against its
    /// namespace informer and falls back to a live read only when the namespace is missing
    /// from it, so a label patched on afterwards can go unseen for a moment and the webhook is
    /// skipped (this made a denial test admit a Secret once in CI).
    pub async fn labelled_namespace(
        &self,
        client: &Client,
        purpose: &str,
        labels: &[(String, String)],
    ) -> Result<String> {
        let mut all: std::collections::BTreeMap<String, String> =
            [(TEST_NAMESPACE_LABEL.to_string(), "on".to_string())].into();
        all.extend(labels.iter().cloned());
        let ns = Namespace {
            metadata: ObjectMeta {
                generate_name: Some(format!("{}-", sanitize(purpose))),
                labels: Some(all),
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

/// What every apiserver of one control plane shares.
struct Shared<'a> {
    dir: &'a Path,
    binaries: &'a Binaries,
    ca: &'a Ca,
    admin: &'a CertPair,
    etcd: &'a str,
    /// The ServiceAccount issuer, once the first apiserver has its URL.
    issuer: Option<&'a str>,
    options: &'a Options,
}

/// The file name of apiserver `index`: the first one keeps the names it always had
/// (`kubeconfig`, `serving.crt`, ...), the others get `-<index>` before the extension.
fn numbered(index: usize, stem: &str, ext: &str) -> String {
    match index {
        0 => format!("{stem}{ext}"),
        i => format!("{stem}-{i}{ext}"),
    }
}

/// Writes apiserver `index`'s certificate, configuration and kubeconfig, starts it (on a new
/// port when the chosen one was taken meanwhile) and waits for `/readyz`.
async fn start_apiserver(
    shared: &Shared<'_>,
    index: usize,
    encryption: &Encryption,
) -> Result<Apiserver> {
    let dir = shared.dir;
    let serving = shared.ca.serving(
        "kube-apiserver",
        &["127.0.0.1", "localhost", "kubernetes.default.svc"],
    )?;
    let files = ApiserverFiles {
        serving: numbered(index, "serving", ""),
        cert_dir: numbered(index, "apiserver-certs", ""),
        encryption: match encryption.to_yaml() {
            Some(yaml) => {
                let path = dir.join(numbered(index, "encryption", ".yaml"));
                write(&path, &yaml)?;
                Some(path)
            }
            None => None,
        },
    };
    write_pair(dir, &files.serving, &serving)?;
    let kubeconfig = dir.join(numbered(index, "kubeconfig", ""));
    let log = dir.join(numbered(index, "kube-apiserver", ".log"));

    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = free_port()?;
        let server = format!("https://127.0.0.1:{port}");
        let issuer = shared.issuer.unwrap_or(&server);
        let mut args = apiserver_args(dir, port, shared.etcd, issuer, &files);
        if let Some(config) = &files.encryption {
            args.push(format!("--encryption-provider-config={}", config.display()));
            args.push(format!(
                "--encryption-provider-config-automatic-reload={}",
                shared.options.reload.enabled()
            ));
        }
        if encryption.uses_kms_v1() {
            args.push("--feature-gates=KMSv1=true".into());
        }
        args.extend(shared.options.extra_apiserver_args.iter().cloned());
        let started = Instant::now();
        let mut process = Supervised::spawn(
            "kube-apiserver",
            &shared.binaries.kube_apiserver(),
            &args,
            &log,
        )?;
        kubeconfig::write(&kubeconfig, &server, &shared.ca.cert_pem(), shared.admin)?;
        match wait_ready(&mut process, &kubeconfig).await {
            Ok(()) => {
                return Ok(Apiserver {
                    process: Mutex::new(process),
                    program: shared.binaries.kube_apiserver(),
                    args,
                    server,
                    kubeconfig,
                    encryption_config: files.encryption,
                    ready_in: started.elapsed(),
                });
            }
            Err(e) if attempt < 3 && lost_port_race(&e) => {
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

/// One apiserver's own files in the control plane's directory.
struct ApiserverFiles {
    /// `<serving>.crt` and `<serving>.key`.
    serving: String,
    cert_dir: String,
    encryption: Option<PathBuf>,
}

fn apiserver_args(
    dir: &Path,
    port: u16,
    etcd: &str,
    issuer: &str,
    files: &ApiserverFiles,
) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    vec![
        format!("--etcd-servers={etcd}"),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", p(&format!("{}.crt", files.serving))),
        format!(
            "--tls-private-key-file={}",
            p(&format!("{}.key", files.serving))
        ),
        format!("--client-ca-file={}", p("ca.crt")),
        "--authorization-mode=RBAC".into(),
        format!("--service-account-issuer={issuer}"),
        format!("--service-account-key-file={}", p("sa.pub")),
        format!("--service-account-signing-key-file={}", p("sa.key")),
        "--service-cluster-ip-range=10.0.0.0/24".into(),
        "--disable-admission-plugins=ServiceAccount".into(),
        "--endpoint-reconciler-type=none".into(),
        format!("--cert-dir={}", p(&files.cert_dir)),
        "--profiling=false".into(),
    ]
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
