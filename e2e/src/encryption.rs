//! The apiserver's EncryptionConfiguration for Secrets. Written to a file the apiserver reloads
//! on its own (`--encryption-provider-config-automatic-reload`), so tests can change it while
//! the control plane runs.

use std::io::Read;

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
}

impl Encryption {
    /// The configuration file's contents, or `None` when encryption is off.
    pub fn to_yaml(&self) -> Option<String> {
        let provider = match self {
            Self::None => return None,
            Self::Raw(doc) => return Some(doc.clone()),
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
        Some(format!(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n- resources:\n  - secrets\n  providers:\n{provider}    - identity: {{}}\n"
        ))
    }
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
    fn no_encryption_writes_no_file() {
        assert!(Encryption::None.to_yaml().is_none());
    }
}
