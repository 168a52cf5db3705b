//! TLS for the admission server: TLS 1.2 and 1.3 only, the full certificate chain served, an
//! optional client-certificate requirement, and certificates reloaded without a restart.
//!
//! Reloading swaps the [`CertifiedKey`] behind a resolver rather than the whole `ServerConfig`,
//! so session resumption state survives a rotation. Changes are found by polling and hashing
//! both files: a Secret volume update renames a `..data` symlink, which file watches miss.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use sha2::{Digest, Sha256};

use crate::metrics::Metrics;

/// Why a certificate, key or CA could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not a PEM certificate file: {message}")]
    BadCertificate { path: PathBuf, message: String },
    #[error("{path} holds no usable private key: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("the key in {key} does not belong to the certificate in {cert}: {message}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("client CA {path} is unusable: {message}")]
    ClientCa { path: PathBuf, message: String },
    #[error("TLS configuration failed: {0}")]
    Config(#[from] rustls::Error),
}

/// The bytes of the certificate and key files, and a hash over both.
struct Files {
    cert: Vec<u8>,
    key: Vec<u8>,
    hash: [u8; 32],
}

/// Where the certificate and key live.
struct Source {
    cert: PathBuf,
    key: PathBuf,
}

impl Source {
    fn read(&self) -> Result<Files, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TlsError::Read {
                path: p.to_path_buf(),
                source,
            })
        };
        let cert = read(&self.cert)?;
        let key = read(&self.key)?;
        let mut h = Sha256::new();
        h.update(&cert);
        h.update([0]);
        h.update(&key);
        Ok(Files {
            hash: h.finalize().into(),
            cert,
            key,
        })
    }

    fn parse(
        &self,
        cert: &[u8],
        key: &[u8],
        provider: &CryptoProvider,
    ) -> Result<CertifiedKey, TlsError> {
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::BadCertificate {
                path: self.cert.clone(),
                message: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate {
                path: self.cert.clone(),
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| TlsError::BadKey {
            path: self.key.clone(),
            message: e.to_string(),
        })?;
        let signing =
            provider
                .key_provider
                .load_private_key(key)
                .map_err(|e| TlsError::BadKey {
                    path: self.key.clone(),
                    message: e.to_string(),
                })?;
        let certified = CertifiedKey::new(chain, signing);
        certified.keys_match().map_err(|e| TlsError::Mismatch {
            cert: self.cert.clone(),
            key: self.key.clone(),
            message: e.to_string(),
        })?;
        Ok(certified)
    }
}

/// Serves the current certificate; [`CertReloader`] replaces it.
pub struct CertResolver {
    current: ArcSwap<CertifiedKey>,
}

impl fmt::Debug for CertResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertResolver")
            .field("chain_len", &self.current.load().cert.len())
            .finish()
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// Watches the certificate files and swaps the served certificate when they change.
pub struct CertReloader {
    source: Source,
    resolver: Arc<CertResolver>,
    provider: Arc<CryptoProvider>,
    loaded_hash: std::sync::Mutex<[u8; 32]>,
}

impl fmt::Debug for CertReloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertReloader")
            .field("cert", &self.source.cert)
            .field("key", &self.source.key)
            .finish_non_exhaustive()
    }
}

impl CertReloader {
    /// Loads the certificate and key; fails if either is unusable, so a bad start is loud.
    pub fn load(cert: &Path, key: &Path, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let source = Source {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
        };
        let files = source.read()?;
        let certified = source.parse(&files.cert, &files.key, &provider)?;
        Ok(Self {
            resolver: Arc::new(CertResolver {
                current: ArcSwap::from_pointee(certified),
            }),
            source,
            provider,
            loaded_hash: std::sync::Mutex::new(files.hash),
        })
    }

    pub fn resolver(&self) -> Arc<CertResolver> {
        self.resolver.clone()
    }

    /// Reloads if the files changed. Returns whether a new certificate is now served. On error
    /// the old certificate stays: a half-written rotation must not take the webhook down.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let files = self.source.read()?;
        let mut loaded = self.loaded_hash.lock().unwrap_or_else(|p| p.into_inner());
        if *loaded == files.hash {
            return Ok(false);
        }
        let certified = self.source.parse(&files.cert, &files.key, &self.provider)?;
        self.resolver.current.store(Arc::new(certified));
        *loaded = files.hash;
        Ok(true)
    }

    /// Polls every `interval` until the task is dropped.
    pub async fn watch(self: Arc<Self>, interval: Duration, metrics: Arc<Metrics>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match self.reload_if_changed() {
                Ok(true) => {
                    metrics.cert_reload(true);
                    tracing::info!(cert = %self.source.cert.display(), "serving certificate reloaded");
                }
                Ok(false) => {}
                Err(e) => {
                    metrics.cert_reload(false);
                    tracing::warn!(error = %e, "serving certificate not reloaded; the previous one stays");
                }
            }
        }
    }
}

/// The server configuration: TLS 1.3 and 1.2, ALPN h2 and http/1.1 (the apiserver speaks
/// HTTP/1.1 to webhooks; h2 stays for other clients), and client certificates required when a
/// client CA is given.
pub fn server_config(
    resolver: Arc<CertResolver>,
    client_ca: Option<&Path>,
    provider: Arc<CryptoProvider>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let bad = |message: String| TlsError::ClientCa {
                path: path.to_path_buf(),
                message,
            };
            let pem = std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(bad("no certificate in the file".into()));
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| bad(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
