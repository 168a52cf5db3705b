//! `KeyMetadata` as DescribeKey and CreateKey return it, with the real field names, and the key
//! ARN that names a key's region. (Its conversion into the state model's key facts is
//! secretkms-core's: this crate knows nothing of the state model.)

use serde::{Deserialize, Serialize};

/// A CMK's metadata. Conditional fields are `None` when KMS omits them: `DeleteDate` only in
/// `PendingDeletion`, `NextRotationDate`/`RotationInterval` only with automatic rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyMetadata {
    pub arn: String,
    pub automatic_rotation: Option<String>,
    pub creation_date: String,
    pub creator: String,
    #[serde(rename = "DKMSInstanceId")]
    pub dkms_instance_id: Option<String>,
    pub delete_date: Option<String>,
    pub deletion_protection: Option<String>,
    pub deletion_protection_description: Option<String>,
    pub description: String,
    pub key_id: String,
    pub key_spec: String,
    pub key_state: String,
    pub key_usage: String,
    pub last_rotation_date: Option<String>,
    pub material_expire_time: Option<String>,
    pub next_rotation_date: Option<String>,
    pub origin: String,
    pub primary_key_version: Option<String>,
    pub protection_level: String,
    pub rotation_interval: Option<String>,
}

/// The parts of a key ARN `acs:kms:<region>:<account>:key/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyArn {
    pub region: String,
    pub account: String,
    pub key_id: String,
}

impl KeyArn {
    pub fn parse(arn: &str) -> Option<Self> {
        let rest = arn.strip_prefix("acs:kms:")?;
        let mut parts = rest.splitn(3, ':');
        let region = parts.next()?;
        let account = parts.next()?;
        let key_id = parts.next()?.strip_prefix("key/")?;
        if region.is_empty() || key_id.is_empty() {
            return None;
        }
        Some(Self {
            region: region.into(),
            account: account.into(),
            key_id: key_id.into(),
        })
    }

    pub fn format(&self) -> String {
        format!(
            "acs:kms:{}:{}:key/{}",
            self.region, self.account, self.key_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DescribeKey sample shape from the KMS API documentation.
    const SAMPLE: &str = r#"{
        "RequestId": "2a1ba1ea-2d0e-4c1b-bd0e-7c3e4a4f6e2f",
        "KeyMetadata": {
            "CreationDate": "2021-07-06T18:22:03Z", "Description": "k8s secrets",
            "KeyId": "1234abcd-12ab-34cd-56ef-12345678****", "KeyState": "PendingDeletion",
            "KeyUsage": "ENCRYPT/DECRYPT", "PrimaryKeyVersion": "2ab1a983-7072-4bbc-a582-584b5bd8****",
            "DeleteDate": "2021-07-13T18:22:03Z", "Creator": "111122223333", "Origin": "Aliyun_KMS",
            "Arn": "acs:kms:cn-hangzhou:111122223333:key/1234abcd-12ab-34cd-56ef-12345678****",
            "ProtectionLevel": "SOFTWARE", "KeySpec": "Aliyun_AES_256", "DeletionProtection": "Enabled",
            "AutomaticRotation": "Enabled", "RotationInterval": "31536000s",
            "LastRotationDate": "2021-07-06T18:22:03Z", "NextRotationDate": "2022-07-06T18:22:03Z",
            "DKMSInstanceId": "kst-bjj62d8f5e0sgtx8h****", "MaterialExpireTime": ""
        }
    }"#;

    #[test]
    fn describe_key_sample_keeps_the_real_field_names() {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct R {
            key_metadata: KeyMetadata,
        }
        let r: R = serde_json::from_str(SAMPLE).unwrap();
        assert_eq!(
            r.key_metadata.dkms_instance_id.as_deref(),
            Some("kst-bjj62d8f5e0sgtx8h****")
        );
        let m = r.key_metadata;
        assert_eq!(
            KeyArn::parse(&m.arn).map(|a| a.region).as_deref(),
            Some("cn-hangzhou")
        );
        assert_eq!(m.key_state, "PendingDeletion");
        assert_eq!(m.delete_date.as_deref(), Some("2021-07-13T18:22:03Z"));
        assert_eq!(m.deletion_protection.as_deref(), Some("Enabled"));
        assert_eq!(m.rotation_interval.as_deref(), Some("31536000s"));
        assert_eq!(m.material_expire_time.as_deref(), Some(""));
        assert_eq!(m.key_spec, "Aliyun_AES_256");
    }

    #[test]
    fn arn_round_trips() {
        let arn = KeyArn::parse("acs:kms:cn-beijing:123:key/abc").unwrap();
        assert_eq!(
            (arn.region.as_str(), arn.key_id.as_str()),
            ("cn-beijing", "abc")
        );
        assert_eq!(arn.format(), "acs:kms:cn-beijing:123:key/abc");
        assert!(KeyArn::parse("acs:ecs:cn-beijing:123:key/abc").is_none());
    }
}
