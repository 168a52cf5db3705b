//! The KMS operations the emulator answers, one module per operation or family, and the table
//! that routes an `Action` to one: which operations only read and which change the store (and so
//! persist it afterwards).

mod aliases;
mod decrypt;
mod deletion_protection;
mod encrypt;
mod envelope;
mod generate_data_key;
mod key_state;
mod key_versions;
mod keys;
mod rotation;

use serde_json::Value;

use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::Store;

type Answer = Result<Value, ApiError>;

/// An operation, by whether it changes the store.
enum Operation {
    Read(fn(&Store, &Params) -> Answer),
    Write(fn(&mut Store, &Params) -> Answer),
}

/// The operation named `action`, if the emulator implements it.
fn operation(action: &str) -> Option<Operation> {
    use Operation::{Read, Write};
    Some(match action {
        "CreateKey" => Write(keys::create_key),
        "DescribeKey" => Read(keys::describe_key),
        "ListKeys" => Read(keys::list_keys),
        "ListKeyVersions" => Read(key_versions::list_key_versions),
        "DescribeKeyVersion" => Read(key_versions::describe_key_version),
        "Encrypt" => Read(encrypt::encrypt),
        "GenerateDataKey" => Read(generate_data_key::generate_data_key),
        "Decrypt" => Read(decrypt::decrypt),
        "EnableKey" => Write(|s, p| key_state::set_enabled(s, p, "EnableKey")),
        "DisableKey" => Write(|s, p| key_state::set_enabled(s, p, "DisableKey")),
        "ScheduleKeyDeletion" => Write(key_state::schedule_key_deletion),
        "CancelKeyDeletion" => Write(key_state::cancel_key_deletion),
        "UpdateRotationPolicy" => Write(rotation::update_rotation_policy),
        "SetDeletionProtection" => Write(deletion_protection::set_deletion_protection),
        "CreateAlias" => Write(aliases::create_alias),
        "DeleteAlias" => Write(aliases::delete_alias),
        "ListAliases" => Read(|s, p| aliases::list_aliases(s, p, None)),
        "ListAliasesByKeyId" => Read(|s, p| {
            let key = s.resolve(p.req("KeyId")?)?;
            aliases::list_aliases(s, p, Some(key))
        }),
        _ => return None,
    })
}

/// Whether `action` changes keys (ActionTrail's `eventRW` Write) rather than only reading or
/// using them.
pub(crate) fn is_write(action: &str) -> bool {
    matches!(operation(action), Some(Operation::Write(_)))
}

impl Store {
    /// Runs one KMS operation; `Ok(body)` without RequestId (the server adds it).
    pub fn call(&mut self, action: &str, params: &Params) -> Answer {
        self.tick();
        match operation(action) {
            Some(Operation::Read(run)) => run(self, params),
            Some(Operation::Write(run)) => {
                let answer = run(self, params)?;
                self.persist()?;
                Ok(answer)
            }
            None => Err(ApiError::new(
                404,
                "InvalidAction.NotFound",
                format!("Specified api {action:?} is not found, please check your url and method."),
            )),
        }
    }
}

/// `PageNumber` (from 1) and `PageSize` (1–100, default 10) of the List operations.
pub(super) fn page(params: &Params) -> Result<(usize, usize), ApiError> {
    let number = params.opt_u64("PageNumber")?.unwrap_or(1);
    let size = params.opt_u64("PageSize")?.unwrap_or(10);
    if number < 1 {
        return Err(ApiError::invalid("PageNumber", "must be at least 1"));
    }
    if !(1..=100).contains(&size) {
        return Err(ApiError::invalid("PageSize", "must be 1 to 100"));
    }
    Ok((number as usize, size as usize))
}

/// Page `number` of `size` of `items` in the shape every KMS List* answer has:
/// `{<list>: {<item>: [...]}, PageNumber, PageSize, TotalCount}`.
pub(super) fn paged(
    (number, size): (usize, usize),
    list: &str,
    item: &str,
    items: Vec<Value>,
) -> Value {
    let total = items.len();
    let items: Vec<Value> = items
        .into_iter()
        .skip((number - 1) * size)
        .take(size)
        .collect();
    let mut inner = serde_json::Map::new();
    inner.insert(item.into(), Value::Array(items));
    let mut out = serde_json::Map::new();
    out.insert(list.into(), Value::Object(inner));
    out.insert("PageNumber".into(), number.into());
    out.insert("PageSize".into(), size.into());
    out.insert("TotalCount".into(), total.into());
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(items: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        for (k, v) in items {
            p.push(k, v);
        }
        p
    }

    fn store() -> Store {
        Store::open("cn-hangzhou", "1234567890", None).unwrap()
    }

    #[test]
    fn key_state_rules_follow_the_kms_table() {
        let mut s = store();
        s.seed(&["alias=k8s".parse().unwrap()]).unwrap();
        let enc = params(&[("KeyId", "alias/k8s"), ("Plaintext", "aGk=")]);
        let blob = s.call("Encrypt", &enc).unwrap()["CiphertextBlob"]
            .as_str()
            .unwrap()
            .to_string();
        s.call("DisableKey", &params(&[("KeyId", "alias/k8s")]))
            .unwrap();
        let err = s.call("Encrypt", &enc).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (409, "Rejected.Disabled")
        );
        let err = s
            .call("Decrypt", &params(&[("CiphertextBlob", &blob)]))
            .unwrap_err();
        assert_eq!(err.code, "Rejected.Disabled");
        s.call(
            "ScheduleKeyDeletion",
            &params(&[("KeyId", "alias/k8s"), ("PendingWindowInDays", "7")]),
        )
        .unwrap();
        let meta = s
            .call("DescribeKey", &params(&[("KeyId", "alias/k8s")]))
            .unwrap();
        assert!(meta["KeyMetadata"]["DeleteDate"].is_string());
        let err = s
            .call("EnableKey", &params(&[("KeyId", "alias/k8s")]))
            .unwrap_err();
        assert_eq!(err.code, "Rejected.StateModifiedFailed");
        s.call("CancelKeyDeletion", &params(&[("KeyId", "alias/k8s")]))
            .unwrap();
        let meta = s
            .call("DescribeKey", &params(&[("KeyId", "alias/k8s")]))
            .unwrap();
        assert_eq!(meta["KeyMetadata"]["KeyState"], "Enabled");
        assert!(meta["KeyMetadata"].get("DeleteDate").is_none());
        let dec = s
            .call("Decrypt", &params(&[("CiphertextBlob", &blob)]))
            .unwrap();
        assert_eq!(dec["Plaintext"], "aGk=");
    }

    #[test]
    fn rotation_keeps_old_versions_decryptable() {
        let mut s = store();
        s.seed(&["alias=k8s,rotation=365d".parse().unwrap()])
            .unwrap();
        let first = s
            .call(
                "Encrypt",
                &params(&[("KeyId", "alias/k8s"), ("Plaintext", "YQ==")]),
            )
            .unwrap();
        let new_version = s.rotate("alias/k8s").unwrap();
        let second = s
            .call(
                "Encrypt",
                &params(&[("KeyId", "alias/k8s"), ("Plaintext", "Yg==")]),
            )
            .unwrap();
        assert_eq!(second["KeyVersionId"], new_version.as_str());
        assert_ne!(first["KeyVersionId"], second["KeyVersionId"]);
        let dec = s
            .call(
                "Decrypt",
                &params(&[("CiphertextBlob", first["CiphertextBlob"].as_str().unwrap())]),
            )
            .unwrap();
        assert_eq!(dec["KeyVersionId"], first["KeyVersionId"]);
        let meta = &s
            .call("DescribeKey", &params(&[("KeyId", "alias/k8s")]))
            .unwrap()["KeyMetadata"];
        assert_eq!(meta["RotationInterval"], "31536000s");
        assert_eq!(meta["PrimaryKeyVersion"], new_version.as_str());
    }

    #[test]
    fn data_file_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kms.json");
        let mut s = Store::open("cn-hangzhou", "1", Some(path.clone())).unwrap();
        s.seed(&["alias=k8s".parse().unwrap()]).unwrap();
        let blob = s
            .call(
                "Encrypt",
                &params(&[("KeyId", "alias/k8s"), ("Plaintext", "eA==")]),
            )
            .unwrap();
        let mut again = Store::open("cn-hangzhou", "1", Some(path)).unwrap();
        again.seed(&["alias=k8s".parse().unwrap()]).unwrap();
        assert_eq!(again.keys.len(), 1, "seeding is idempotent");
        let dec = again
            .call(
                "Decrypt",
                &params(&[("CiphertextBlob", blob["CiphertextBlob"].as_str().unwrap())]),
            )
            .unwrap();
        assert_eq!(dec["Plaintext"], "eA==");
    }

    #[test]
    fn deletion_protection_blocks_scheduling() {
        let mut s = store();
        s.seed(&["alias=k8s,protection=on".parse().unwrap()])
            .unwrap();
        let err = s
            .call(
                "ScheduleKeyDeletion",
                &params(&[("KeyId", "alias/k8s"), ("PendingWindowInDays", "7")]),
            )
            .unwrap_err();
        assert_eq!(err.code, "Forbidden.ResourceProtected");
        let err = s
            .call(
                "DescribeKey",
                &params(&[("KeyId", "acs:kms:cn-beijing:1234567890:key/x")]),
            )
            .unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (404, "Forbidden.KeyNotFound")
        );
    }
}
