//! `KeyMetadata` as DescribeKey and CreateKey return it, with the real field names, and its
//! conversion into the state model's [`KeyFacts`].

use serde::{Deserialize, Serialize};

use crate::state::{KeyFacts, KeyState};

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

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.is_empty()).cloned()
}

impl From<&KeyMetadata> for KeyFacts {
    fn from(m: &KeyMetadata) -> Self {
        let arn = Some(m.arn.clone()).filter(|a| !a.is_empty());
        KeyFacts {
            key_id: m.key_id.clone(),
            region: arn.as_deref().and_then(KeyArn::parse).map(|a| a.region),
            arn,
            state: KeyState::from_kms(&m.key_state),
            state_name: m.key_state.clone(),
            spec: m.key_spec.clone(),
            usage: m.key_usage.clone(),
            primary_key_version: non_empty(&m.primary_key_version),
            delete_date: non_empty(&m.delete_date),
            deletion_protection: m.deletion_protection.as_deref().map(|p| p == "Enabled"),
            automatic_rotation: m.automatic_rotation.as_deref().map(|r| r == "Enabled"),
            rotation_interval: non_empty(&m.rotation_interval),
            last_rotation_date: non_empty(&m.last_rotation_date),
            next_rotation_date: non_empty(&m.next_rotation_date),
        }
    }
}

impl From<KeyMetadata> for KeyFacts {
    fn from(m: KeyMetadata) -> Self {
        Self::from(&m)
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
    fn describe_key_sample_becomes_key_facts() {
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
        let facts = KeyFacts::from(r.key_metadata);
        assert_eq!(facts.region.as_deref(), Some("cn-hangzhou"));
        assert_eq!(facts.state, KeyState::PendingDeletion);
        assert_eq!(facts.delete_date.as_deref(), Some("2021-07-13T18:22:03Z"));
        assert_eq!(facts.deletion_protection, Some(true));
        assert_eq!(facts.automatic_rotation, Some(true));
        assert_eq!(facts.spec, "Aliyun_AES_256");
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
