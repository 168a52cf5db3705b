//! Keys created at start (`--seed-key alias=k8s,spec=...`), so a test or demo begins with the
//! keys it needs; seeding is idempotent across restarts with a data file.

use crate::params::Params;
use crate::store::{STATES, Store, date, now};

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

impl Store {
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
}
