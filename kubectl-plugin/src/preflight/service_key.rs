//! Not a service key: ACK's UpdateKMSEncryption refuses the keys Alibaba Cloud services create
//! for themselves (`alibaba-kms.md` §8.4: "cannot use a service key"). Such a key is told by
//! its alias under `alias/acs/` (a prefix KMS reserves for services: no customer alias may start
//! with it, §3) or by a `Creator` that is a service's name rather than the account's id.

use secretkms_alibaba::kms::{KeyMetadata, KmsClient};

use crate::checklist::Check;

/// The alias prefix only Alibaba Cloud services' keys carry.
pub const SERVICE_ALIAS_PREFIX: &str = "alias/acs/";

/// ListAliases pages read at most (100 aliases each) to find the key's aliases.
const ALIAS_PAGES: u32 = 10;

/// Why `meta` (named `key`, with `aliases`) is a service key, if it is.
pub fn service_key_reason(key: &str, meta: &KeyMetadata, aliases: &[String]) -> Option<String> {
    if key.starts_with(SERVICE_ALIAS_PREFIX) {
        return Some(format!("{key} is a service alias"));
    }
    if let Some(alias) = aliases.iter().find(|a| a.starts_with(SERVICE_ALIAS_PREFIX)) {
        return Some(format!("the key has the service alias {alias}"));
    }
    let creator = meta.creator.as_str();
    if !creator.is_empty() && !creator.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "its Creator is {creator}, a cloud service, not an account"
        ));
    }
    None
}

/// The check, reading the key's aliases where the caller may list them.
pub async fn check(client: &KmsClient, key: &str, meta: &KeyMetadata) -> Check {
    let (aliases, listed) = aliases_of(client, &meta.key_id).await;
    match service_key_reason(key, meta, &aliases) {
        Some(reason) => Check::fail("not-service-key", format!("a service key: {reason}"))
            .fix("ACK cannot use service keys: create a customer key with aliyun kms CreateKey --KeySpec Aliyun_AES_256 --KeyUsage ENCRYPT/DECRYPT"),
        None if listed => Check::pass(
            "not-service-key",
            format!("Creator {}, no service alias", meta.creator),
        ),
        None => Check::pass(
            "not-service-key",
            format!(
                "Creator {} (aliases not listed: no kms:ListAliases)",
                meta.creator
            ),
        ),
    }
}

/// The key's aliases, and whether they could be listed.
async fn aliases_of(client: &KmsClient, key_id: &str) -> (Vec<String>, bool) {
    let mut found = Vec::new();
    for page in 1..=ALIAS_PAGES {
        let Ok(answer) = client.list_aliases(page, 100).await else {
            return (found, false);
        };
        let n = answer.aliases.alias.len();
        found.extend(
            answer
                .aliases
                .alias
                .into_iter()
                .filter(|a| a.key_id == key_id)
                .map(|a| a.alias_name),
        );
        if n < 100 || (page * 100) >= answer.total_count {
            break;
        }
    }
    (found, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(creator: &str) -> KeyMetadata {
        KeyMetadata {
            key_id: "key-1".into(),
            creator: creator.into(),
            ..Default::default()
        }
    }

    #[test]
    fn service_aliases_and_service_creators_are_service_keys() {
        assert_eq!(
            service_key_reason("alias/k8s", &meta("1234567890"), &[]),
            None
        );
        assert!(
            service_key_reason("alias/acs/oss", &meta("1234567890"), &[])
                .unwrap()
                .contains("service alias")
        );
        assert!(
            service_key_reason("key-1", &meta("123"), &["alias/acs/ecs".into()])
                .unwrap()
                .contains("alias/acs/ecs")
        );
        assert!(
            service_key_reason("key-1", &meta("Oss"), &[])
                .unwrap()
                .contains("Creator is Oss")
        );
    }
}
