//! The cluster layouts real clusters run, as typed options of the harness: which KMS API the
//! `kms` provider speaks, how the plugin names its key, the order of the providers for Secrets,
//! whether the apiserver reloads its EncryptionConfiguration, and how many apiservers share one
//! etcd. `Layout::default()` is the stack the KMS tests have always used (one apiserver, KMS v2
//! then `identity`, reload on, a key_id per key version); [`Layout::start`] brings one up.
//!
//! ```no_run
//! # async fn demo(emulator: &std::path::Path, plugin: &std::path::Path) -> Result<(), secretkms_e2e::layout::LayoutError> {
//! use secretkms_e2e::kms::KmsStackOptions;
//! use secretkms_e2e::layout::{KmsApi, Layout, Reload};
//! let layout = Layout { kms_api: KmsApi::V1, reload: Reload::Off, ..Default::default() };
//! let cluster = layout.start(KmsStackOptions::new(emulator, plugin), Default::default()).await?;
//! let client = cluster.control_plane.client().await?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::str::FromStr;

use crate::control_plane::{ControlPlane, Options};
use crate::encryption::{Encryption, KmsProvider, KmsVersion, LocalKey, LocalKind, Provider};
use crate::error::HarnessError;
use crate::kms::{KmsStack, KmsStackError, KmsStackOptions};

/// The KMS v2 provider's name in every layout (its stored prefix is `k8s:enc:kms:v2:secretkms:`).
pub const KMS_V2_PROVIDER: &str = "secretkms";
/// The KMS v1 provider's name in every layout (`k8s:enc:kms:v1:secretkms-v1:`). Names must be
/// unique across all KMS providers of a file, so it differs from the v2 one.
pub const KMS_V1_PROVIDER: &str = "secretkms-v1";
/// The name of every local provider's key.
pub const LOCAL_KEY_NAME: &str = "key1";
/// The `timeout` of every `kms` provider (upstream's default).
pub const KMS_TIMEOUT_SECS: u32 = 3;

/// Why a layout is refused or could not start.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("invalid layout: {0}")]
    Invalid(String),
    #[error(transparent)]
    Harness(#[from] HarnessError),
    #[error(transparent)]
    Kms(#[from] KmsStackError),
}

pub type Result<T, E = LayoutError> = std::result::Result<T, E>;

/// Which KMS API the `kms` entry of the providers list speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KmsApi {
    /// `apiVersion: v1` (the plugin's v1beta1 service); the apiserver gets
    /// `--feature-gates=KMSv1=true`.
    V1,
    /// `apiVersion: v2`.
    #[default]
    V2,
    /// A v2 provider and right after it a v1 provider on the same socket, as during a
    /// migration from v1 to v2 (v2 writes, both read).
    Both,
}

/// How the plugin names the key that wraps a seed (its `--key-id-mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KeyIdMode {
    /// `<CMK id>/<key version id>`: a new key_id on every rotation (our plugin's own scheme).
    #[default]
    PerVersion,
    /// The CMK id, the same across rotations, as Alibaba Cloud's public plugin does.
    Constant,
}

impl KeyIdMode {
    /// The plugin's `--key-id-mode` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerVersion => "per-version",
            Self::Constant => "constant",
        }
    }
}

/// One kind of provider in the list for Secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The KMS plugin (one or two entries, see [`KmsApi`]).
    Kms,
    Identity,
    AesCbc,
    Secretbox,
    AesGcm,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kms => "kms",
            Self::Identity => "identity",
            Self::AesCbc => "aescbc",
            Self::Secretbox => "secretbox",
            Self::AesGcm => "aesgcm",
        }
    }

    fn local(self) -> Option<LocalKind> {
        match self {
            Self::AesCbc => Some(LocalKind::AesCbc),
            Self::Secretbox => Some(LocalKind::Secretbox),
            Self::AesGcm => Some(LocalKind::AesGcm),
            Self::Kms | Self::Identity => None,
        }
    }

    /// Parses a comma-separated list such as `kms,identity`, refusing repeats.
    pub fn parse_list(list: &str) -> Result<Vec<Self>> {
        let mut kinds = Vec::new();
        for word in list.split(',').map(str::trim) {
            let kind: Self = word.parse()?;
            if kinds.contains(&kind) {
                return Err(LayoutError::Invalid(format!(
                    "provider {word:?} is listed twice in {list:?}"
                )));
            }
            kinds.push(kind);
        }
        Ok(kinds)
    }
}

/// Whether the apiserver reloads its EncryptionConfiguration when the file changes
/// (`--encryption-provider-config-automatic-reload`). It also decides the KMS health checks'
/// names when a KMS v1 provider is configured: one `kms-providers` with reload on, one
/// `kms-provider-<i>` per KMS provider with it off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Reload {
    #[default]
    On,
    Off,
}

impl Reload {
    pub fn enabled(self) -> bool {
        self == Self::On
    }
}

/// A cluster layout. `Default` is today's KMS stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub kms_api: KmsApi,
    pub key_id_mode: KeyIdMode,
    /// The providers for Secrets in order; the first one writes. Empty: no
    /// EncryptionConfiguration at all (Secrets stored as plain protobuf, no reload flag).
    pub providers: Vec<ProviderKind>,
    pub reload: Reload,
    /// kube-apiservers on the one etcd, each with its own KMS plugin, port and certificate.
    pub apiservers: usize,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            kms_api: KmsApi::default(),
            key_id_mode: KeyIdMode::default(),
            providers: vec![ProviderKind::Kms, ProviderKind::Identity],
            reload: Reload::default(),
            apiservers: 1,
        }
    }
}

/// A running layout. Field order is drop order: the apiservers stop before their plugins.
#[derive(Debug)]
pub struct Cluster {
    pub control_plane: ControlPlane,
    /// The emulator and one plugin per apiserver, when a provider is `kms`.
    pub kms: Option<KmsStack>,
    pub layout: Layout,
}

impl Layout {
    /// Whether the layout needs the KMS stack.
    pub fn uses_kms(&self) -> bool {
        self.providers.contains(&ProviderKind::Kms)
    }

    /// Refuses layouts the apiserver would refuse, with a message naming the field.
    pub fn validate(&self) -> Result<()> {
        if self.apiservers == 0 {
            return Err(LayoutError::Invalid("apiservers must be at least 1".into()));
        }
        for (i, kind) in self.providers.iter().enumerate() {
            if self.providers[..i].contains(kind) {
                return Err(LayoutError::Invalid(format!(
                    "provider {} is listed twice",
                    kind.as_str()
                )));
            }
        }
        Ok(())
    }

    /// Starts the KMS stack (when a provider is `kms`: the emulator and one plugin per
    /// apiserver, all on the same CMK) and then the control plane. `kms` names the binaries
    /// (its `plugins` and `key_id_mode` are set from the layout); `options` gives the rest of
    /// the control plane's options (its `encryption`, `more_apiservers` and `reload` are set
    /// from the layout).
    pub async fn start(&self, kms: KmsStackOptions, options: Options) -> Result<Cluster> {
        self.validate()?;
        let stack = if self.uses_kms() {
            Some(
                KmsStack::start(KmsStackOptions {
                    plugins: self.apiservers,
                    key_id_mode: self.key_id_mode,
                    abstract_sockets: kms.abstract_sockets || self.kms_api != KmsApi::V2,
                    ..kms
                })
                .await?,
            )
        } else {
            None
        };
        let keys: Vec<LocalKey> = self
            .providers
            .iter()
            .filter_map(|kind| kind.local())
            .map(|kind| LocalKey::generate(kind, LOCAL_KEY_NAME))
            .collect();
        let mut encryption: Vec<Encryption> = (0..self.apiservers)
            .map(|i| self.encryption(&keys, stack.as_ref().map(|s| s.sockets()[i].clone())))
            .collect();
        let first = encryption.remove(0);
        let control_plane = ControlPlane::start(Options {
            encryption: first,
            more_apiservers: encryption,
            reload: self.reload,
            ..options
        })
        .await?;
        Ok(Cluster {
            control_plane,
            kms: stack,
            layout: self.clone(),
        })
    }

    /// One apiserver's EncryptionConfiguration: the same local keys for every apiserver, its
    /// own plugin's socket.
    fn encryption(&self, keys: &[LocalKey], socket: Option<std::path::PathBuf>) -> Encryption {
        if self.providers.is_empty() {
            return Encryption::None;
        }
        let kms = |version, name: &str| {
            Provider::Kms(KmsProvider {
                version,
                name: name.into(),
                socket: socket
                    .clone()
                    .expect("the KMS stack runs when kms is listed"),
                timeout_secs: KMS_TIMEOUT_SECS,
            })
        };
        let mut providers = Vec::new();
        for kind in &self.providers {
            match kind {
                ProviderKind::Identity => providers.push(Provider::Identity),
                ProviderKind::Kms => match self.kms_api {
                    KmsApi::V1 => providers.push(kms(KmsVersion::V1, KMS_V1_PROVIDER)),
                    KmsApi::V2 => providers.push(kms(KmsVersion::V2, KMS_V2_PROVIDER)),
                    KmsApi::Both => {
                        providers.push(kms(KmsVersion::V2, KMS_V2_PROVIDER));
                        providers.push(kms(KmsVersion::V1, KMS_V1_PROVIDER));
                    }
                },
                local => {
                    let kind = local.local().expect("the other kinds are matched above");
                    let key = keys
                        .iter()
                        .find(|k| k.kind == kind)
                        .expect("a key is generated for each local provider");
                    providers.push(Provider::Local(key.clone()));
                }
            }
        }
        Encryption::Providers(providers)
    }
}

impl Cluster {
    /// The KMS stack; panics when the layout has no `kms` provider (a test bug).
    pub fn kms(&self) -> &KmsStack {
        self.kms
            .as_ref()
            .expect("this layout has no kms provider, so no KMS stack")
    }
}

fn unknown(what: &str, value: &str, expected: &str) -> LayoutError {
    LayoutError::Invalid(format!("unknown {what} {value:?} (expected {expected})"))
}

impl FromStr for KmsApi {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "v1" => Ok(Self::V1),
            "v2" => Ok(Self::V2),
            "both" => Ok(Self::Both),
            other => Err(unknown("KMS API", other, "v1, v2 or both")),
        }
    }
}

impl FromStr for KeyIdMode {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "per-version" => Ok(Self::PerVersion),
            "constant" => Ok(Self::Constant),
            other => Err(unknown("key_id mode", other, "per-version or constant")),
        }
    }
}

impl FromStr for ProviderKind {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "kms" => Ok(Self::Kms),
            "identity" => Ok(Self::Identity),
            "aescbc" => Ok(Self::AesCbc),
            "secretbox" => Ok(Self::Secretbox),
            "aesgcm" => Ok(Self::AesGcm),
            other => Err(unknown(
                "provider",
                other,
                "kms, identity, aescbc, secretbox or aesgcm",
            )),
        }
    }
}

impl FromStr for Reload {
    type Err = LayoutError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(unknown("reload setting", other, "on or off")),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let providers: Vec<&str> = self.providers.iter().map(|p| p.as_str()).collect();
        let api = match self.kms_api {
            KmsApi::V1 => "v1",
            KmsApi::V2 => "v2",
            KmsApi::Both => "both",
        };
        write!(
            f,
            "--providers {} --kms-api {api} --key-id-mode {} --reload {} --apiservers {}",
            if providers.is_empty() {
                "(none)".to_string()
            } else {
                providers.join(",")
            },
            self.key_id_mode.as_str(),
            if self.reload.enabled() { "on" } else { "off" },
            self.apiservers
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms_entries(enc: &Encryption) -> Vec<(KmsVersion, String)> {
        let Encryption::Providers(list) = enc else {
            panic!("expected a provider list, got {enc:?}")
        };
        list.iter()
            .filter_map(|p| match p {
                Provider::Kms(k) => Some((k.version, k.name.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_default_is_todays_stack() {
        let layout = Layout::default();
        let enc = layout.encryption(&[], Some("/tmp/k.sock".into()));
        assert_eq!(
            enc.to_yaml(),
            Encryption::KmsV2 {
                name: KMS_V2_PROVIDER.into(),
                socket: "/tmp/k.sock".into(),
                timeout_secs: KMS_TIMEOUT_SECS,
            }
            .to_yaml(),
            "kms v2 then identity, as KmsStack::encryption writes it"
        );
        assert_eq!(layout.reload, Reload::On);
        assert_eq!(layout.apiservers, 1);
        assert_eq!(layout.key_id_mode.as_str(), "per-version");
    }

    #[test]
    fn both_puts_v2_first_and_v1_second_with_distinct_names() {
        let layout = Layout {
            kms_api: KmsApi::Both,
            providers: vec![ProviderKind::Identity, ProviderKind::Kms],
            ..Default::default()
        };
        let enc = layout.encryption(&[], Some("/tmp/k.sock".into()));
        assert_eq!(
            kms_entries(&enc),
            [
                (KmsVersion::V2, KMS_V2_PROVIDER.to_string()),
                (KmsVersion::V1, KMS_V1_PROVIDER.to_string())
            ]
        );
        assert!(enc.uses_kms_v1());
        let Encryption::Providers(list) = &enc else {
            unreachable!()
        };
        assert!(matches!(list[0], Provider::Identity), "order is kept");
    }

    #[test]
    fn local_providers_get_their_generated_key() {
        let layout = Layout {
            providers: ProviderKind::parse_list("aesgcm,identity,secretbox").unwrap(),
            ..Default::default()
        };
        let keys = [
            LocalKey::generate(LocalKind::AesGcm, LOCAL_KEY_NAME),
            LocalKey::generate(LocalKind::Secretbox, LOCAL_KEY_NAME),
        ];
        let yaml = layout.encryption(&keys, None).to_yaml().unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
        let providers = &doc["resources"][0]["providers"];
        assert_eq!(providers[0]["aesgcm"]["keys"][0]["name"], LOCAL_KEY_NAME);
        assert!(providers[1]["identity"].is_mapping());
        assert!(providers[2]["secretbox"].is_mapping());
        assert!(!layout.uses_kms());
    }

    #[test]
    fn no_providers_means_no_configuration() {
        let layout = Layout {
            providers: vec![],
            ..Default::default()
        };
        assert!(layout.encryption(&[], None).to_yaml().is_none());
    }

    #[test]
    fn parsing_names_the_bad_value() {
        assert_eq!(
            ProviderKind::parse_list("identity,kms").unwrap(),
            [ProviderKind::Identity, ProviderKind::Kms]
        );
        let repeat = ProviderKind::parse_list("kms,kms").unwrap_err().to_string();
        assert!(repeat.contains("\"kms\" is listed twice"), "{repeat}");
        let bad = ProviderKind::parse_list("kms,aes").unwrap_err().to_string();
        assert!(bad.contains("\"aes\""), "{bad}");
        assert!("v3".parse::<KmsApi>().is_err());
        assert_eq!("both".parse::<KmsApi>().unwrap(), KmsApi::Both);
        assert_eq!(
            "constant".parse::<KeyIdMode>().unwrap(),
            KeyIdMode::Constant
        );
        assert_eq!("off".parse::<Reload>().unwrap(), Reload::Off);
        assert!(
            Layout {
                apiservers: 0,
                ..Default::default()
            }
            .validate()
            .is_err()
        );
    }
}
