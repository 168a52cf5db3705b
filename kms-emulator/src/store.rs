//! The emulator's keys, versions and aliases with the real key-state rules (doc 44211), and
//! persistence to a JSON data file. The KMS operations on them are `operations/`'s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api_error::ApiError;
use crate::params::Params;
use secretkms_alibaba::kms::KeyArn;
use secretkms_alibaba::openapi::signature::format_timestamp;

/// A random RFC 4122 version-4 UUID, the shape of real key and version ids.
pub fn uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

const SYMMETRIC_SPECS: [(&str, usize); 3] = [
    ("Aliyun_AES_256", 32),
    ("Aliyun_AES_128", 16),
    ("Aliyun_AES_192", 24),
];
const ASYMMETRIC_SPECS: [&str; 6] = [
    "RSA_2048", "RSA_3072", "RSA_4096", "EC_P256", "EC_P256K", "EC_SM2",
];
pub(crate) const STATES: [&str; 4] = ["Enabled", "Disabled", "PendingDeletion", "PendingImport"];

pub(crate) fn material_len(spec: &str) -> Option<usize> {
    SYMMETRIC_SPECS
        .iter()
        .find(|(s, _)| *s == spec)
        .map(|(_, n)| *n)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredVersion {
    pub id: String,
    pub creation_date: String,
    /// Base64 key material; empty for asymmetric or not-yet-imported keys.
    pub material: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredKey {
    pub key_id: String,
    pub description: String,
    pub creation_date: String,
    pub key_spec: String,
    pub key_usage: String,
    pub key_state: String,
    pub protection_level: String,
    pub origin: String,
    /// `Enabled` | `Disabled` | `Suspended`.
    pub automatic_rotation: String,
    /// Seconds.
    pub rotation_interval: Option<u64>,
    pub last_rotation_date: Option<String>,
    pub next_rotation_date: Option<String>,
    pub delete_date: Option<String>,
    pub deletion_protection: bool,
    pub deletion_protection_description: Option<String>,
    pub primary_key_version: String,
    pub versions: Vec<StoredVersion>,
}

/// Everything persisted.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Store {
    pub keys: BTreeMap<String, StoredKey>,
    /// Alias name → key id.
    pub aliases: BTreeMap<String, String>,
    #[serde(skip)]
    pub region: String,
    #[serde(skip)]
    pub account: String,
    #[serde(skip)]
    data_file: Option<PathBuf>,
}

/// `"365d"`, `"604800s"` or plain seconds → seconds within 7–730 days.
pub fn parse_interval(text: &str) -> Result<u64, ApiError> {
    let text = text.trim();
    let seconds = if let Some(d) = text.strip_suffix('d') {
        d.parse::<u64>().ok().map(|d| d * 86_400)
    } else {
        text.strip_suffix('s').unwrap_or(text).parse::<u64>().ok()
    };
    match seconds {
        Some(s) if (7 * 86_400..=730 * 86_400).contains(&s) => Ok(s),
        _ => Err(ApiError::invalid(
            "RotationInterval",
            format!("{text:?} must be 7d to 730d, e.g. 365d or 31536000s"),
        )),
    }
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn date(at: OffsetDateTime) -> String {
    format_timestamp(at)
}

pub(crate) fn after(at_text: &str, seconds: u64) -> Option<String> {
    let at = secretkms_alibaba::openapi::signature::parse_timestamp(at_text)?;
    Some(date(at + time::Duration::seconds(seconds as i64)))
}

impl Store {
    /// Loads the data file when it exists, otherwise starts empty.
    pub fn open(region: &str, account: &str, data_file: Option<PathBuf>) -> Result<Self, String> {
        let mut store = match &data_file {
            Some(path) if path.exists() => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                serde_json::from_str::<Store>(&text)
                    .map_err(|e| format!("{} is not an emulator data file: {e}", path.display()))?
            }
            _ => Store::default(),
        };
        store.region = region.into();
        store.account = account.into();
        store.data_file = data_file;
        Ok(store)
    }

    /// Writes the data file atomically (temp file + rename) so a crash never leaves half a file.
    pub fn persist(&self) -> Result<(), ApiError> {
        let Some(path) = &self.data_file else {
            return Ok(());
        };
        let write = |path: &Path| -> std::io::Result<()> {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
            std::fs::rename(&tmp, path)
        };
        write(path).map_err(|e| {
            tracing::error!(path = %path.display(), error = %e, "cannot persist emulator state");
            ApiError::new(
                500,
                "InternalFailure",
                "The emulator could not persist its state.",
            )
        })
    }

    pub fn arn(&self, key_id: &str) -> String {
        KeyArn {
            region: self.region.clone(),
            account: self.account.clone(),
            key_id: key_id.into(),
        }
        .format()
    }

    /// Drops keys whose deletion date passed and rotates keys whose automatic rotation is due.
    pub fn tick(&mut self) {
        let now = now();
        let expired: Vec<String> = self
            .keys
            .values()
            .filter(|k| {
                k.key_state == "PendingDeletion"
                    && k.delete_date
                        .as_deref()
                        .and_then(secretkms_alibaba::openapi::signature::parse_timestamp)
                        .is_some_and(|d| d <= now)
            })
            .map(|k| k.key_id.clone())
            .collect();
        for id in &expired {
            self.keys.remove(id);
            self.aliases.retain(|_, k| k != id);
        }
        let due: Vec<String> = self
            .keys
            .values()
            .filter(|k| {
                k.key_state == "Enabled"
                    && k.automatic_rotation == "Enabled"
                    && k.next_rotation_date
                        .as_deref()
                        .and_then(secretkms_alibaba::openapi::signature::parse_timestamp)
                        .is_some_and(|d| d <= now)
            })
            .map(|k| k.key_id.clone())
            .collect();
        for id in &due {
            let _ = self.rotate(id);
        }
        if !expired.is_empty() || !due.is_empty() {
            let _ = self.persist();
        }
    }

    /// Resolves a key id, `alias/<name>` or ARN to the stored key id.
    pub fn resolve(&self, key: &str) -> Result<String, ApiError> {
        let key = key.trim();
        if key.is_empty() {
            return Err(ApiError::missing("KeyId"));
        }
        if key.starts_with("alias/") {
            return self.aliases.get(key).cloned().ok_or_else(|| {
                ApiError::new(
                    404,
                    "Forbidden.AliasNotFound",
                    format!("The specified Alias is not found: {key}"),
                )
            });
        }
        let id = if key.starts_with("acs:") {
            match KeyArn::parse(key) {
                Some(arn) if arn.region == self.region && arn.account == self.account => arn.key_id,
                Some(_) => return Err(ApiError::key_not_found(key)),
                None => {
                    return Err(ApiError::invalid(
                        "KeyId",
                        format!("{key:?} is not a key arn"),
                    ));
                }
            }
        } else {
            key.to_string()
        };
        if self.keys.contains_key(&id) {
            Ok(id)
        } else {
            Err(ApiError::key_not_found(key))
        }
    }

    pub(crate) fn key(&self, key: &str) -> Result<&StoredKey, ApiError> {
        let id = self.resolve(key)?;
        Ok(&self.keys[&id])
    }

    pub(crate) fn key_mut(&mut self, key: &str) -> Result<&mut StoredKey, ApiError> {
        let id = self.resolve(key)?;
        Ok(self.keys.get_mut(&id).expect("resolved"))
    }

    /// DescribeKey's `KeyMetadata`, with conditional fields only where KMS sends them.
    pub fn metadata(&self, key: &StoredKey) -> Value {
        let mut m = json!({
            "Arn": self.arn(&key.key_id),
            "AutomaticRotation": key.automatic_rotation,
            "CreationDate": key.creation_date,
            "Creator": self.account,
            "DeletionProtection": if key.deletion_protection { "Enabled" } else { "Disabled" },
            "Description": key.description,
            "KeyId": key.key_id,
            "KeySpec": key.key_spec,
            "KeyState": key.key_state,
            "KeyUsage": key.key_usage,
            "MaterialExpireTime": "",
            "Origin": key.origin,
            "PrimaryKeyVersion": key.primary_key_version,
            "ProtectionLevel": key.protection_level,
        });
        let obj = m.as_object_mut().expect("object literal");
        if let Some(d) = &key.last_rotation_date {
            obj.insert("LastRotationDate".into(), json!(d));
        }
        if key.automatic_rotation != "Disabled" {
            if let Some(s) = key.rotation_interval {
                obj.insert("RotationInterval".into(), json!(format!("{s}s")));
            }
            if let Some(d) = &key.next_rotation_date {
                obj.insert("NextRotationDate".into(), json!(d));
            }
        }
        if key.key_state == "PendingDeletion"
            && let Some(d) = &key.delete_date
        {
            obj.insert("DeleteDate".into(), json!(d));
        }
        if let Some(d) = &key.deletion_protection_description {
            obj.insert("DeletionProtectionDescription".into(), json!(d));
        }
        m
    }

    fn new_version(spec: &str) -> StoredVersion {
        let material = material_len(spec)
            .map(|n| {
                base64::engine::general_purpose::STANDARD
                    .encode((0..n).map(|_| rand::random::<u8>()).collect::<Vec<_>>())
            })
            .unwrap_or_default();
        StoredVersion {
            id: uuid(),
            creation_date: date(now()),
            material,
        }
    }

    pub(crate) fn create_key_with_id(
        &mut self,
        params: &Params,
        id: Option<String>,
    ) -> Result<String, ApiError> {
        let spec = params
            .opt("KeySpec")
            .unwrap_or("Aliyun_AES_256")
            .to_string();
        let symmetric = material_len(&spec).is_some();
        if !symmetric && !ASYMMETRIC_SPECS.contains(&spec.as_str()) {
            return Err(ApiError::invalid(
                "KeySpec",
                format!("{spec:?} is not supported by the emulator"),
            ));
        }
        let usage = params
            .opt("KeyUsage")
            .unwrap_or("ENCRYPT/DECRYPT")
            .to_string();
        if !["ENCRYPT/DECRYPT", "SIGN/VERIFY"].contains(&usage.as_str())
            || (symmetric && usage != "ENCRYPT/DECRYPT")
        {
            return Err(ApiError::invalid(
                "KeyUsage",
                format!("{usage:?} does not fit key spec {spec}"),
            ));
        }
        let level = params
            .opt("ProtectionLevel")
            .unwrap_or("SOFTWARE")
            .to_string();
        if !["SOFTWARE", "HSM"].contains(&level.as_str()) {
            return Err(ApiError::invalid(
                "ProtectionLevel",
                format!("{level:?} is not SOFTWARE or HSM"),
            ));
        }
        let origin = params.opt("Origin").unwrap_or("Aliyun_KMS").to_string();
        if !["Aliyun_KMS", "EXTERNAL"].contains(&origin.as_str()) {
            return Err(ApiError::new(
                400,
                "Unsupported.Origin",
                format!("The origin {origin:?} is not supported."),
            ));
        }
        let rotation = params.opt_bool("EnableAutomaticRotation")?.unwrap_or(false);
        let interval = match (rotation, params.opt("RotationInterval")) {
            (true, Some(i)) => Some(parse_interval(i)?),
            (true, None) => return Err(ApiError::missing("RotationInterval")),
            (false, _) => None,
        };
        let created = date(now());
        let mut version = Self::new_version(&spec);
        if origin == "EXTERNAL" {
            version.material.clear();
        }
        let key_id = id.unwrap_or_else(uuid);
        let key = StoredKey {
            key_id: key_id.clone(),
            description: params.opt("Description").unwrap_or_default().to_string(),
            creation_date: created.clone(),
            key_spec: spec,
            key_usage: usage,
            key_state: if origin == "EXTERNAL" {
                "PendingImport".into()
            } else {
                "Enabled".into()
            },
            protection_level: level,
            origin,
            automatic_rotation: if rotation {
                "Enabled".into()
            } else {
                "Disabled".into()
            },
            rotation_interval: interval,
            last_rotation_date: Some(created.clone()),
            next_rotation_date: interval.and_then(|s| after(&created, s)),
            delete_date: None,
            deletion_protection: false,
            deletion_protection_description: None,
            primary_key_version: version.id.clone(),
            versions: vec![version],
        };
        self.keys.insert(key_id.clone(), key);
        Ok(key_id)
    }

    /// A new primary version (the `/_emulator/rotate` control and automatic rotation).
    pub fn rotate(&mut self, key: &str) -> Result<String, ApiError> {
        let k = self.key_mut(key)?;
        if material_len(&k.key_spec).is_none() {
            return Err(ApiError::new(
                400,
                "UnsupportedOperation",
                "Asymmetric keys do not rotate.",
            ));
        }
        let version = Self::new_version(&k.key_spec);
        let id = version.id.clone();
        k.primary_key_version = id.clone();
        k.last_rotation_date = Some(version.creation_date.clone());
        if k.automatic_rotation == "Enabled" {
            k.next_rotation_date = k
                .rotation_interval
                .and_then(|s| after(&version.creation_date, s));
        }
        k.versions.push(version);
        Ok(id)
    }

    /// Sets a key's state directly (the test controls), bypassing the API's transition rules.
    pub fn force_state(
        &mut self,
        key: &str,
        state: &str,
        delete_in_days: Option<u32>,
    ) -> Result<Value, ApiError> {
        if !STATES.contains(&state) {
            return Err(ApiError::invalid(
                "state",
                format!("{state:?} is not one of {}", STATES.join(", ")),
            ));
        }
        let id = self.resolve(key)?;
        let k = self.keys.get_mut(&id).expect("resolved");
        k.key_state = state.into();
        k.delete_date = (state == "PendingDeletion")
            .then(|| date(now() + time::Duration::days(delete_in_days.unwrap_or(7) as i64)));
        let meta = self.metadata(&self.keys[&id]);
        self.persist()?;
        Ok(meta)
    }
}
