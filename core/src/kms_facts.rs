//! KMS answers as state-model facts: what DescribeKey says about a key, in the shape the
//! policies, the SecretEncryption conditions and `kubectl secretkms status` read. The KMS client
//! itself is `secretkms_alibaba::kms`; this is the one place that knows both sides.

use secretkms_alibaba::kms::{KeyArn, KeyMetadata, KmsClient, KmsError};

use secretkms_model::{KeyFacts, KeyState};

/// DescribeKey as state-model facts.
/// The facts say which `key` they were asked for ([`KeyFacts::requested`]).
pub async fn describe(client: &KmsClient, key: &str) -> Result<KeyFacts, KmsError> {
    Ok(KeyFacts {
        requested: key.to_string(),
        ..from_metadata(&client.describe_key(key).await?.key_metadata)
    })
}

/// The facts a key's metadata states. Empty optional fields count as absent; the region comes
/// from the ARN.
pub fn from_metadata(m: &KeyMetadata) -> KeyFacts {
    let arn = Some(m.arn.clone()).filter(|a| !a.is_empty());
    KeyFacts {
        requested: String::new(),
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

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.is_empty()).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The DescribeKey sample of the KMS API documentation, as the client decodes it.
    fn sample() -> KeyMetadata {
        KeyMetadata {
            arn: "acs:kms:cn-hangzhou:111122223333:key/1234abcd-12ab-34cd-56ef-12345678****".into(),
            key_id: "1234abcd-12ab-34cd-56ef-12345678****".into(),
            key_state: "PendingDeletion".into(),
            key_spec: "Aliyun_AES_256".into(),
            key_usage: "ENCRYPT/DECRYPT".into(),
            primary_key_version: Some("2ab1a983-7072-4bbc-a582-584b5bd8****".into()),
            delete_date: Some("2021-07-13T18:22:03Z".into()),
            deletion_protection: Some("Enabled".into()),
            automatic_rotation: Some("Enabled".into()),
            rotation_interval: Some("31536000s".into()),
            last_rotation_date: Some(String::new()),
            ..Default::default()
        }
    }

    #[test]
    fn describe_key_sample_becomes_key_facts() {
        let facts = from_metadata(&sample());
        assert_eq!(facts.region.as_deref(), Some("cn-hangzhou"));
        assert_eq!(facts.state, KeyState::PendingDeletion);
        assert_eq!(facts.state_name, "PendingDeletion");
        assert_eq!(facts.delete_date.as_deref(), Some("2021-07-13T18:22:03Z"));
        assert_eq!(facts.deletion_protection, Some(true));
        assert_eq!(facts.automatic_rotation, Some(true));
        assert_eq!(facts.spec, "Aliyun_AES_256");
        assert_eq!(facts.last_rotation_date, None, "empty counts as absent");
    }

    #[test]
    fn a_key_without_an_arn_has_no_region() {
        let facts = from_metadata(&KeyMetadata {
            arn: String::new(),
            ..sample()
        });
        assert_eq!((facts.arn, facts.region), (None, None));
    }
}
