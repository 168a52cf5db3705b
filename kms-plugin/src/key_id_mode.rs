//! `--key-id-mode`: how Status and Encrypt name the key that wraps a seed. `per-version` is
//! ours, a key_id per primary key version, so a KMS rotation re-seeds the apiserver;
//! `constant` is what Alibaba's public plugin (`AliyunContainerService/ack-kms-plugin`) does,
//! the CMK id across rotations with the version only in an annotation, so clusters that run it
//! can be reproduced and read.

use std::collections::HashMap;

use crate::key_id::{KEY_VERSION_ANNOTATION, KeyVersionRef};

/// Alibaba's plugin's annotation with the key version that wrapped the seed.
pub const ACK_KEY_VERSION_ANNOTATION: &str = "x-acs-kms-key-version-id.ack.alibabacloud.com";
/// Alibaba's plugin's annotation with the KMS region.
pub const ACK_REGION_ANNOTATION: &str = "x-acs-kms-region-id.ack.alibabacloud.com";
/// Alibaba's plugin's annotation with the id of the KMS Encrypt request.
pub const ACK_REQUEST_ID_ANNOTATION: &str = "x-acs-request-id.ack.alibabacloud.com";

/// How the key_id is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum KeyIdMode {
    /// `<CMK id>/<key version id>`: changes on every rotation, so the apiserver re-seeds.
    #[default]
    PerVersion,
    /// The CMK id, the same across rotations (Alibaba's plugin); the apiserver keeps its seed
    /// until it restarts.
    Constant,
}

/// What KMS said about one Encrypt, for the response's annotations.
#[derive(Debug, Clone, Default)]
pub struct Wrapping<'a> {
    pub region: Option<&'a str>,
    pub request_id: &'a str,
}

impl KeyIdMode {
    /// The key_id for seeds wrapped by `used`.
    pub fn key_id(self, used: &KeyVersionRef) -> String {
        match self {
            Self::PerVersion => used.to_string(),
            Self::Constant => used.key_id.clone(),
        }
    }

    /// Encrypt's annotations: where the key version travels in this mode.
    pub fn annotations(
        self,
        used: &KeyVersionRef,
        wrapping: &Wrapping,
    ) -> HashMap<String, Vec<u8>> {
        let version = used.key_version_id.clone().into_bytes();
        match self {
            Self::PerVersion => HashMap::from([(KEY_VERSION_ANNOTATION.to_string(), version)]),
            Self::Constant => {
                let mut annotations =
                    HashMap::from([(ACK_KEY_VERSION_ANNOTATION.to_string(), version)]);
                if let Some(region) = wrapping.region.filter(|r| !r.is_empty()) {
                    annotations.insert(ACK_REGION_ANNOTATION.into(), region.as_bytes().to_vec());
                }
                if !wrapping.request_id.is_empty() {
                    annotations.insert(
                        ACK_REQUEST_ID_ANNOTATION.into(),
                        wrapping.request_id.as_bytes().to_vec(),
                    );
                }
                annotations
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key_id::is_fully_qualified_domain_name;

    fn used() -> KeyVersionRef {
        KeyVersionRef::new("key-1", "v-1")
    }

    #[test]
    fn per_version_names_the_version_and_constant_only_the_key() {
        assert_eq!(KeyIdMode::PerVersion.key_id(&used()), "key-1/v-1");
        assert_eq!(KeyIdMode::Constant.key_id(&used()), "key-1");
    }

    #[test]
    fn constant_mode_annotates_as_alibabas_plugin_does() {
        let a = KeyIdMode::Constant.annotations(
            &used(),
            &Wrapping {
                region: Some("cn-hangzhou"),
                request_id: "REQ-1",
            },
        );
        assert_eq!(a[ACK_KEY_VERSION_ANNOTATION], b"v-1");
        assert_eq!(a[ACK_REGION_ANNOTATION], b"cn-hangzhou");
        assert_eq!(a[ACK_REQUEST_ID_ANNOTATION], b"REQ-1");
        let bare = KeyIdMode::Constant.annotations(&used(), &Wrapping::default());
        assert_eq!(bare.len(), 1, "no empty region or request id: {bare:?}");
        let ours = KeyIdMode::PerVersion.annotations(&used(), &Wrapping::default());
        assert_eq!(ours[KEY_VERSION_ANNOTATION], b"v-1");
    }

    /// The apiserver's `validateAnnotations` (kmsv2/envelope.go) requires
    /// `IsFullyQualifiedDomainName` keys; Alibaba's keys have no `/`, so they pass.
    #[test]
    fn the_ack_annotation_keys_pass_the_apiservers_check() {
        for key in [
            ACK_KEY_VERSION_ANNOTATION,
            ACK_REGION_ANNOTATION,
            ACK_REQUEST_ID_ANNOTATION,
        ] {
            assert!(is_fully_qualified_domain_name(key), "{key}");
        }
    }

    #[test]
    fn the_flag_defaults_to_per_version() {
        use clap::Parser as _;
        let parse = |extra: &[&str]| {
            crate::Args::try_parse_from([&["p", "--key-id", "k"], extra].concat())
                .map(|a| a.key_id_mode)
        };
        assert_eq!(parse(&[]).unwrap(), KeyIdMode::PerVersion);
        assert_eq!(
            parse(&["--key-id-mode", "constant"]).unwrap(),
            KeyIdMode::Constant
        );
        assert!(parse(&["--key-id-mode", "per-key"]).is_err());
    }

    #[test]
    fn clap_spells_the_modes_as_documented() {
        use clap::ValueEnum as _;
        let names: Vec<_> = KeyIdMode::value_variants()
            .iter()
            .map(|m| m.to_possible_value().unwrap().get_name().to_string())
            .collect();
        assert_eq!(names, ["per-version", "constant"]);
    }
}
