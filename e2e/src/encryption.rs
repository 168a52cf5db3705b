//! The apiserver's EncryptionConfiguration for Secrets. Written to a file the apiserver reloads
//! on its own (`--encryption-provider-config-automatic-reload`, unless the layout turns it off),
//! so tests can change it while the control plane runs.

use std::io::Read;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

/// How Secrets are stored at rest.
#[derive(Debug, Clone, Default)]
pub enum Encryption {
    /// No EncryptionConfiguration at all: Secrets are stored as plain protobuf.
    #[default]
    None,
    /// `aescbc` with a freshly generated 32-byte key named `key_name`.
    AesCbc { key_name: String },
    /// KMS v2 through a plugin on a unix socket, then `identity` for reading old data.
    KmsV2 {
        name: String,
        socket: std::path::PathBuf,
        timeout_secs: u32,
    },
    /// A complete EncryptionConfiguration document, as given.
    Raw(String),
    /// Exactly these providers for Secrets, in this order: the first one writes, every one
    /// reads (nothing is appended, not even `identity`).
    Providers(Vec<Provider>),
}

/// One entry of the providers list of an EncryptionConfiguration.
#[derive(Debug, Clone)]
pub enum Provider {
    /// `identity: {}`: stored as plain protobuf.
    Identity,
    /// A provider with a local key in the file: `aescbc`, `secretbox` or `aesgcm`.
    Local(LocalKey),
    /// A KMS plugin on a unix socket.
    Kms(KmsProvider),
}

/// The local-key providers the apiserver knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalKind {
    AesCbc,
    Secretbox,
    AesGcm,
}

impl LocalKind {
    /// The provider's key in the configuration file (and in its stored prefix).
    pub fn provider(self) -> &'static str {
        match self {
            Self::AesCbc => "aescbc",
            Self::Secretbox => "secretbox",
            Self::AesGcm => "aesgcm",
        }
    }
}

/// A local provider's single key: 32 random bytes (valid for all three kinds). Its `Debug`
/// never shows the secret.
#[derive(Clone)]
pub struct LocalKey {
    pub kind: LocalKind,
    pub name: String,
    secret: [u8; 32],
}

impl LocalKey {
    /// A fresh random key. Generate it once and give the same value to every apiserver of a
    /// control plane, or they cannot read each other's writes.
    pub fn generate(kind: LocalKind, name: impl Into<String>) -> Self {
        Self {
            kind,
            name: name.into(),
            secret: random_key(),
        }
    }
}

impl std::fmt::Debug for LocalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The KMS plugin API a `kms` provider speaks (`apiVersion` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmsVersion {
    /// KMS v1 (`v1beta1` gRPC): needs `--feature-gates=KMSv1=true` since Kubernetes 1.29.
    V1,
    V2,
}

/// A `kms` provider entry.
#[derive(Debug, Clone)]
pub struct KmsProvider {
    pub version: KmsVersion,
    /// Unique among all KMS providers of the file; part of the stored prefix.
    pub name: String,
    pub socket: PathBuf,
    pub timeout_secs: u32,
}

/// KMS v1's DEK cache size; upstream's default, written out because v1 requires a non-zero
/// value (and v2 rejects the field).
pub const KMS_V1_CACHE_SIZE: u32 = 1000;

impl Provider {
    fn to_yaml(&self) -> String {
        match self {
            Self::Identity => "    - identity: {}\n".into(),
            Self::Local(key) => format!(
                "    - {}:\n        keys:\n        - name: {}\n          secret: {}\n",
                key.kind.provider(),
                key.name,
                B64.encode(key.secret)
            ),
            Self::Kms(kms) => {
                let version = match kms.version {
                    KmsVersion::V1 => "v1",
                    KmsVersion::V2 => "v2",
                };
                let cache = match kms.version {
                    KmsVersion::V1 => format!("        cachesize: {KMS_V1_CACHE_SIZE}\n"),
                    KmsVersion::V2 => String::new(),
                };
                format!(
                    "    - kms:\n        apiVersion: {version}\n        name: {}\n        endpoint: unix://{}\n        timeout: {}s\n{cache}",
                    kms.name,
                    kms.socket.display(),
                    kms.timeout_secs
                )
            }
        }
    }
}

impl Encryption {
    /// The configuration file's contents, or `None` when encryption is off.
    pub fn to_yaml(&self) -> Option<String> {
        let provider = match self {
            Self::None => return None,
            Self::Raw(doc) => return Some(doc.clone()),
            Self::Providers(providers) => {
                let list: String = providers.iter().map(Provider::to_yaml).collect();
                return Some(document(&list));
            }
            Self::AesCbc { key_name } => format!(
                "    - aescbc:\n        keys:\n        - name: {key_name}\n          secret: {}\n",
                B64.encode(random_key())
            ),
            Self::KmsV2 {
                name,
                socket,
                timeout_secs,
            } => format!(
                "    - kms:\n        apiVersion: v2\n        name: {name}\n        endpoint: unix://{}\n        timeout: {timeout_secs}s\n",
                socket.display()
            ),
        };
        Some(document(&format!("{provider}    - identity: {{}}\n")))
    }

    /// Whether a provider speaks KMS v1, so the apiserver needs the `KMSv1` feature gate.
    /// (A [`Encryption::Raw`] document is not inspected: pass the gate yourself.)
    pub fn uses_kms_v1(&self) -> bool {
        match self {
            Self::Providers(providers) => providers
                .iter()
                .any(|p| matches!(p, Provider::Kms(k) if k.version == KmsVersion::V1)),
            _ => false,
        }
    }
}

fn document(providers: &str) -> String {
    format!(
        "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources:\n  - secrets\n  providers:\n{providers}"
    )
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut key))
        .expect("/dev/urandom is readable");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aescbc_puts_the_key_first_and_identity_last() {
        let yaml = Encryption::AesCbc {
            key_name: "k1".into(),
        }
        .to_yaml()
        .unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let providers = &doc["resources"][0]["providers"];
        assert_eq!(providers[0]["aescbc"]["keys"][0]["name"], "k1");
        let secret = providers[0]["aescbc"]["keys"][0]["secret"]
            .as_str()
            .unwrap();
        assert_eq!(B64.decode(secret).unwrap().len(), 32);
        assert!(providers[1]["identity"].is_mapping());
    }

    #[test]
    fn kms_v2_names_the_socket_and_api_version() {
        let yaml = Encryption::KmsV2 {
            name: "ack".into(),
            socket: "/tmp/k.sock".into(),
            timeout_secs: 3,
        }
        .to_yaml()
        .unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let kms = &doc["resources"][0]["providers"][0]["kms"];
        assert_eq!(kms["apiVersion"], "v2");
        assert_eq!(kms["endpoint"], "unix:///tmp/k.sock");
    }

    #[test]
    fn a_provider_list_is_written_in_order_with_nothing_appended() {
        let enc = Encryption::Providers(vec![
            Provider::Identity,
            Provider::Local(LocalKey::generate(LocalKind::Secretbox, "sb")),
            Provider::Kms(KmsProvider {
                version: KmsVersion::V2,
                name: "p2".into(),
                socket: "/tmp/k.sock".into(),
                timeout_secs: 3,
            }),
            Provider::Kms(KmsProvider {
                version: KmsVersion::V1,
                name: "p1".into(),
                socket: "/tmp/k.sock".into(),
                timeout_secs: 3,
            }),
            Provider::Local(LocalKey::generate(LocalKind::AesGcm, "gcm")),
        ]);
        assert!(enc.uses_kms_v1());
        let doc: serde_yaml::Value = serde_yaml::from_str(&enc.to_yaml().unwrap()).unwrap();
        let providers = doc["resources"][0]["providers"].as_sequence().unwrap();
        assert_eq!(providers.len(), 5, "no identity appended");
        assert!(providers[0]["identity"].is_mapping());
        assert_eq!(providers[1]["secretbox"]["keys"][0]["name"], "sb");
        assert_eq!(providers[2]["kms"]["apiVersion"], "v2");
        assert!(
            providers[2]["kms"].get("cachesize").is_none(),
            "v2 rejects cachesize"
        );
        assert_eq!(providers[3]["kms"]["apiVersion"], "v1");
        assert_eq!(providers[3]["kms"]["cachesize"], KMS_V1_CACHE_SIZE);
        assert_eq!(providers[3]["kms"]["timeout"], "3s");
        let gcm = providers[4]["aesgcm"]["keys"][0]["secret"]
            .as_str()
            .unwrap();
        assert_eq!(B64.decode(gcm).unwrap().len(), 32);
    }

    #[test]
    fn a_local_key_never_shows_its_secret() {
        let key = LocalKey::generate(LocalKind::AesCbc, "k");
        let shown = format!("{key:?}");
        assert!(shown.contains("<redacted>"));
        assert!(!shown.contains(&B64.encode(key.secret)));
    }

    #[test]
    fn only_kms_v1_needs_the_gate() {
        let v2 = Encryption::Providers(vec![Provider::Kms(KmsProvider {
            version: KmsVersion::V2,
            name: "p".into(),
            socket: "/tmp/k.sock".into(),
            timeout_secs: 3,
        })]);
        assert!(!v2.uses_kms_v1());
        assert!(!Encryption::None.uses_kms_v1());
    }

    #[test]
    fn no_encryption_writes_no_file() {
        assert!(Encryption::None.to_yaml().is_none());
    }
}
