//! The emulator's keys, versions and aliases, the KMS operations on them with the real key-state
//! rules (doc 44211), and persistence to a JSON data file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::api_error::ApiError;
use crate::crypto;
use crate::params::Params;
use secretkms_core::kms::KeyArn;
use secretkms_core::kms::signature::format_timestamp;

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
const STATES: [&str; 4] = ["Enabled", "Disabled", "PendingDeletion", "PendingImport"];

fn material_len(spec: &str) -> Option<usize> {
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

/// A key to create at start (`--seed-key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedKey {
    pub id: Option<String>,
    pub alias: Option<String>,
    pub spec: String,
    pub usage: String,
    pub state: String,
    pub protection_level: String,
    pub rotation_interval: Option<String>,
    pub deletion_protection: bool,
}

impl std::str::FromStr for SeedKey {
    type Err = String;
    /// `alias=alias/k8s,spec=Aliyun_AES_256,state=Enabled,rotation=365d,protection=on,id=...`
    fn from_str(text: &str) -> Result<Self, String> {
        let mut seed = SeedKey {
            id: None,
            alias: None,
            spec: "Aliyun_AES_256".into(),
            usage: "ENCRYPT/DECRYPT".into(),
            state: "Enabled".into(),
            protection_level: "SOFTWARE".into(),
            rotation_interval: None,
            deletion_protection: false,
        };
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("seed key part {part:?} is not key=value"))?;
            match k {
                "id" => seed.id = Some(v.into()),
                "alias" => {
                    seed.alias = Some(if v.starts_with("alias/") {
                        v.into()
                    } else {
                        format!("alias/{v}")
                    })
                }
                "spec" => seed.spec = v.into(),
                "usage" => seed.usage = v.into(),
                "state" => seed.state = v.into(),
                "level" => seed.protection_level = v.into(),
                "rotation" => seed.rotation_interval = Some(v.into()),
                "protection" => seed.deletion_protection = matches!(v, "on" | "true" | "Enabled"),
                other => {
                    return Err(format!(
                        "unknown seed key field {other:?} (id, alias, spec, usage, state, level, rotation, protection)"
                    ));
                }
            }
        }
        if !STATES.contains(&seed.state.as_str()) {
            return Err(format!(
                "seed key state {:?} is not one of {}",
                seed.state,
                STATES.join(", ")
            ));
        }
        Ok(seed)
    }
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

fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn date(at: OffsetDateTime) -> String {
    format_timestamp(at)
}

fn after(at_text: &str, seconds: u64) -> Option<String> {
    let at = secretkms_core::kms::signature::parse_timestamp(at_text)?;
    Some(date(at + time::Duration::seconds(seconds as i64)))
}

fn page(params: &Params) -> Result<(usize, usize), ApiError> {
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

/// Canonical associated data for an optional `EncryptionContext` JSON object.
fn context_aad(params: &Params) -> Result<Vec<u8>, ApiError> {
    let Some(text) = params.opt("EncryptionContext") else {
        return Ok(b"{}".to_vec());
    };
    let map: BTreeMap<String, Value> = serde_json::from_str(text)
        .map_err(|e| ApiError::invalid("EncryptionContext", format!("not a json object: {e}")))?;
    let mut canonical = BTreeMap::new();
    for (k, v) in map {
        let v = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        canonical.insert(k, v);
    }
    Ok(serde_json::to_vec(&canonical).unwrap_or_default())
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

    /// Creates seed keys whose alias (or id) does not exist yet, so restarts with a data file
    /// keep the existing keys.
    pub fn seed(&mut self, seeds: &[SeedKey]) -> Result<(), String> {
        for seed in seeds {
            let exists = seed
                .alias
                .as_ref()
                .is_some_and(|a| self.aliases.contains_key(a))
                || seed
                    .id
                    .as_ref()
                    .is_some_and(|id| self.keys.contains_key(id));
            if exists {
                continue;
            }
            let mut params = Params::default();
            params.push("KeySpec", &seed.spec);
            params.push("KeyUsage", &seed.usage);
            params.push("ProtectionLevel", &seed.protection_level);
            if seed.state == "PendingImport" {
                params.push("Origin", "EXTERNAL");
            }
            if let Some(interval) = &seed.rotation_interval {
                params.push("EnableAutomaticRotation", "true");
                params.push("RotationInterval", interval);
            }
            let key_id = self
                .create_key_with_id(&params, seed.id.clone())
                .map_err(|e| e.to_string())?;
            let key = self.keys.get_mut(&key_id).expect("just created");
            key.deletion_protection = seed.deletion_protection;
            match seed.state.as_str() {
                "PendingDeletion" => {
                    key.key_state = "PendingDeletion".into();
                    key.delete_date = Some(date(now() + time::Duration::days(7)));
                }
                state => key.key_state = state.into(),
            }
            if let Some(alias) = &seed.alias {
                self.aliases.insert(alias.clone(), key_id.clone());
            }
        }
        self.persist().map_err(|e| e.to_string())
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
                        .and_then(secretkms_core::kms::signature::parse_timestamp)
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
                        .and_then(secretkms_core::kms::signature::parse_timestamp)
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

    fn key(&self, key: &str) -> Result<&StoredKey, ApiError> {
        let id = self.resolve(key)?;
        Ok(&self.keys[&id])
    }

    fn key_mut(&mut self, key: &str) -> Result<&mut StoredKey, ApiError> {
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

    fn create_key_with_id(
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

    /// Runs one KMS operation; `Ok(body)` without RequestId (the server adds it).
    pub fn call(&mut self, action: &str, params: &Params) -> Result<Value, ApiError> {
        self.tick();
        let mutating = !matches!(
            action,
            "DescribeKey"
                | "ListKeys"
                | "ListKeyVersions"
                | "DescribeKeyVersion"
                | "ListAliases"
                | "ListAliasesByKeyId"
                | "Encrypt"
                | "Decrypt"
                | "GenerateDataKey"
        );
        let result = self.dispatch(action, params);
        if result.is_ok() && mutating {
            self.persist()?;
        }
        result
    }

    fn dispatch(&mut self, action: &str, params: &Params) -> Result<Value, ApiError> {
        match action {
            "CreateKey" => {
                let id = self.create_key_with_id(params, None)?;
                Ok(json!({ "KeyMetadata": self.metadata(&self.keys[&id]) }))
            }
            "DescribeKey" => {
                Ok(json!({ "KeyMetadata": self.metadata(self.key(params.req("KeyId")?)?) }))
            }
            "ListKeys" => {
                let (number, size) = page(params)?;
                let all: Vec<Value> = self
                    .keys
                    .values()
                    .map(|k| json!({ "KeyId": k.key_id, "KeyArn": self.arn(&k.key_id) }))
                    .collect();
                let total = all.len();
                let items: Vec<Value> = all
                    .into_iter()
                    .skip((number - 1) * size)
                    .take(size)
                    .collect();
                Ok(
                    json!({ "Keys": { "Key": items }, "PageNumber": number, "PageSize": size, "TotalCount": total }),
                )
            }
            "ListKeyVersions" => {
                let key = self.key(params.req("KeyId")?)?;
                let (number, size) = page(params)?;
                let items: Vec<Value> = key
                    .versions
                    .iter()
                    .skip((number - 1) * size)
                    .take(size)
                    .map(|v| json!({ "KeyId": key.key_id, "KeyVersionId": v.id, "CreationDate": v.creation_date }))
                    .collect();
                Ok(json!({
                    "KeyVersions": { "KeyVersion": items },
                    "PageNumber": number, "PageSize": size, "TotalCount": key.versions.len(),
                }))
            }
            "DescribeKeyVersion" => {
                let key = self.key(params.req("KeyId")?)?;
                let wanted = params.req("KeyVersionId")?;
                let v = key
                    .versions
                    .iter()
                    .find(|v| v.id == wanted)
                    .ok_or_else(|| {
                        ApiError::new(
                            404,
                            "Forbidden.KeyVersionNotFound",
                            format!("The specified key version is not found: {wanted}"),
                        )
                    })?;
                Ok(
                    json!({ "KeyVersion": { "KeyId": key.key_id, "KeyVersionId": v.id, "CreationDate": v.creation_date } }),
                )
            }
            "Encrypt" => {
                let key = self.usable(params.req("KeyId")?, action)?;
                let plaintext = params.req("Plaintext")?;
                if plaintext.len() > 6144 {
                    return Err(ApiError::invalid("Plaintext", "must be at most 6 KB"));
                }
                let (version, blob) =
                    seal_with_primary(key, plaintext.as_bytes(), &context_aad(params)?)?;
                Ok(json!({ "CiphertextBlob": blob, "KeyId": key.key_id, "KeyVersionId": version }))
            }
            "GenerateDataKey" => {
                let key = self.usable(params.req("KeyId")?, action)?;
                let bytes = match (params.opt_u64("NumberOfBytes")?, params.opt("KeySpec")) {
                    (Some(n), _) if (1..=1024).contains(&n) => n as usize,
                    (Some(n), _) => {
                        return Err(ApiError::invalid(
                            "NumberOfBytes",
                            format!("{n} is not 1 to 1024"),
                        ));
                    }
                    (None, Some("AES_128")) => 16,
                    (None, Some("AES_256") | None) => 32,
                    (None, Some(other)) => {
                        return Err(ApiError::invalid(
                            "KeySpec",
                            format!("{other:?} is not AES_256 or AES_128"),
                        ));
                    }
                };
                let data_key: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
                let text = base64::engine::general_purpose::STANDARD.encode(data_key);
                let (version, blob) =
                    seal_with_primary(key, text.as_bytes(), &context_aad(params)?)?;
                Ok(
                    json!({ "CiphertextBlob": blob, "KeyId": key.key_id, "KeyVersionId": version, "Plaintext": text }),
                )
            }
            "Decrypt" => {
                let invalid = || {
                    ApiError::new(
                        400,
                        "InvalidCiphertext",
                        "The specified ciphertext blob is invalid.",
                    )
                };
                let blob =
                    crypto::Blob::parse(params.req("CiphertextBlob")?).ok_or_else(invalid)?;
                let key = self
                    .keys
                    .values()
                    .find(|k| k.versions.iter().any(|v| v.id == blob.version_id))
                    .ok_or_else(invalid)?;
                check_usable(key, action)?;
                let version = key
                    .versions
                    .iter()
                    .find(|v| v.id == blob.version_id)
                    .expect("found above");
                let material = base64::engine::general_purpose::STANDARD
                    .decode(&version.material)
                    .map_err(|_| invalid())?;
                let plaintext = blob
                    .open(&material, &context_aad(params)?)
                    .ok_or_else(invalid)?;
                let plaintext = String::from_utf8(plaintext).map_err(|_| invalid())?;
                Ok(
                    json!({ "KeyId": key.key_id, "KeyVersionId": version.id, "Plaintext": plaintext }),
                )
            }
            "EnableKey" | "DisableKey" => {
                let k = self.key_mut(params.req("KeyId")?)?;
                if matches!(k.key_state.as_str(), "PendingDeletion" | "PendingImport") {
                    return Err(ApiError::state_modified_failed(&k.key_state));
                }
                k.key_state = if action == "EnableKey" {
                    "Enabled".into()
                } else {
                    "Disabled".into()
                };
                Ok(json!({}))
            }
            "ScheduleKeyDeletion" => {
                let days = params
                    .opt_u64("PendingWindowInDays")?
                    .ok_or_else(|| ApiError::missing("PendingWindowInDays"))?;
                if !(7..=366).contains(&days) {
                    return Err(ApiError::invalid(
                        "PendingWindowInDays",
                        format!("{days} is not 7 to 366"),
                    ));
                }
                let k = self.key_mut(params.req("KeyId")?)?;
                if k.key_state == "PendingDeletion" {
                    return Err(ApiError::key_state(&k.key_state, action));
                }
                if k.deletion_protection {
                    return Err(ApiError::new(
                        403,
                        "Forbidden.ResourceProtected",
                        "The key has deletion protection enabled; disable it with SetDeletionProtection first.",
                    ));
                }
                k.key_state = "PendingDeletion".into();
                k.delete_date = Some(date(now() + time::Duration::days(days as i64)));
                Ok(json!({}))
            }
            "CancelKeyDeletion" => {
                let k = self.key_mut(params.req("KeyId")?)?;
                if k.key_state != "PendingDeletion" {
                    return Err(ApiError::key_state(&k.key_state, action));
                }
                k.key_state = "Enabled".into();
                k.delete_date = None;
                Ok(json!({}))
            }
            "UpdateRotationPolicy" => {
                let enable = params
                    .opt_bool("EnableAutomaticRotation")?
                    .ok_or_else(|| ApiError::missing("EnableAutomaticRotation"))?;
                let interval = params
                    .opt("RotationInterval")
                    .map(parse_interval)
                    .transpose()?;
                let k = self.key_mut(params.req("KeyId")?)?;
                if k.key_state == "PendingDeletion" {
                    return Err(ApiError::key_state(&k.key_state, action));
                }
                if k.protection_level == "HSM" || material_len(&k.key_spec).is_none() {
                    return Err(ApiError::new(
                        400,
                        "UnsupportedOperation",
                        "This key does not support automatic rotation.",
                    ));
                }
                if enable {
                    let seconds = interval.ok_or_else(|| ApiError::missing("RotationInterval"))?;
                    k.automatic_rotation = "Enabled".into();
                    k.rotation_interval = Some(seconds);
                    let base = k
                        .last_rotation_date
                        .clone()
                        .unwrap_or_else(|| k.creation_date.clone());
                    k.next_rotation_date = after(&base, seconds);
                } else {
                    k.automatic_rotation = "Disabled".into();
                    k.next_rotation_date = None;
                }
                Ok(json!({}))
            }
            "SetDeletionProtection" => {
                let enable = params
                    .opt_bool("EnableDeletionProtection")?
                    .ok_or_else(|| ApiError::missing("EnableDeletionProtection"))?;
                let target = params
                    .opt("ProtectedResourceArn")
                    .or(params.opt("KeyId"))
                    .ok_or_else(|| ApiError::missing("ProtectedResourceArn"))?
                    .to_string();
                let description = params
                    .opt("DeletionProtectionDescription")
                    .map(str::to_string);
                let k = self.key_mut(&target)?;
                if k.key_state == "PendingDeletion" {
                    return Err(ApiError::key_state(&k.key_state, action));
                }
                k.deletion_protection = enable;
                k.deletion_protection_description = if enable { description } else { None };
                Ok(json!({}))
            }
            "CreateAlias" => {
                let alias = params.req("AliasName")?.to_string();
                if !alias.starts_with("alias/")
                    || alias.starts_with("alias/acs")
                    || alias.len() > 255
                    || alias.len() <= 6
                {
                    return Err(ApiError::invalid(
                        "AliasName",
                        format!(
                            "{alias:?} must start with alias/, not alias/acs, and be at most 255 characters"
                        ),
                    ));
                }
                let key_id = self.resolve(params.req("KeyId")?)?;
                if self.aliases.contains_key(&alias) {
                    return Err(ApiError::new(
                        400,
                        "AliasAlreadyExists",
                        format!("The alias {alias} already exists."),
                    ));
                }
                self.aliases.insert(alias, key_id);
                Ok(json!({}))
            }
            "DeleteAlias" => {
                let alias = params.req("AliasName")?;
                self.aliases.remove(alias).ok_or_else(|| {
                    ApiError::new(
                        404,
                        "Forbidden.AliasNotFound",
                        format!("The specified Alias is not found: {alias}"),
                    )
                })?;
                Ok(json!({}))
            }
            "ListAliases" | "ListAliasesByKeyId" => {
                let filter = if action == "ListAliasesByKeyId" {
                    Some(self.resolve(params.req("KeyId")?)?)
                } else {
                    None
                };
                let (number, size) = page(params)?;
                let all: Vec<Value> = self
                    .aliases
                    .iter()
                    .filter(|(_, k)| filter.as_ref().is_none_or(|f| f == *k))
                    .map(|(name, key)| {
                        json!({ "AliasName": name, "AliasArn": format!("acs:kms:{}:{}:{}", self.region, self.account, name), "KeyId": key })
                    })
                    .collect();
                let total = all.len();
                let items: Vec<Value> = all
                    .into_iter()
                    .skip((number - 1) * size)
                    .take(size)
                    .collect();
                Ok(
                    json!({ "Aliases": { "Alias": items }, "PageNumber": number, "PageSize": size, "TotalCount": total }),
                )
            }
            other => Err(ApiError::new(
                404,
                "InvalidAction.NotFound",
                format!("Specified api {other:?} is not found, please check your url and method."),
            )),
        }
    }

    fn usable(&self, key: &str, action: &str) -> Result<&StoredKey, ApiError> {
        let k = self.key(key)?;
        check_usable(k, action)?;
        Ok(k)
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

fn check_usable(key: &StoredKey, action: &str) -> Result<(), ApiError> {
    if key.key_state != "Enabled" {
        return Err(ApiError::key_state(&key.key_state, action));
    }
    if key.key_usage != "ENCRYPT/DECRYPT" || material_len(&key.key_spec).is_none() {
        return Err(ApiError::new(
            400,
            "UnsupportedOperation",
            format!("{action} is not supported for key spec {}", key.key_spec),
        ));
    }
    Ok(())
}

fn seal_with_primary(
    key: &StoredKey,
    plaintext: &[u8],
    aad: &[u8],
) -> Result<(String, String), ApiError> {
    let version = key
        .versions
        .iter()
        .find(|v| v.id == key.primary_key_version)
        .ok_or_else(|| {
            ApiError::new(
                500,
                "InternalFailure",
                "The primary key version is missing.",
            )
        })?;
    let material = base64::engine::general_purpose::STANDARD
        .decode(&version.material)
        .map_err(|_| ApiError::new(500, "InternalFailure", "The key material is corrupt."))?;
    let blob = crypto::seal(&version.id, &material, plaintext, aad)
        .map_err(|e| ApiError::new(500, "InternalFailure", e))?;
    Ok((version.id.clone(), blob))
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
