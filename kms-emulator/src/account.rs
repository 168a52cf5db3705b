//! The emulated Alibaba Cloud account: its id, RAM users (each with AccessKeys), RAM roles (the
//! presence of `AliyunCSManagedSecurityRole` is the account's authorization of ACK), the policies
//! attached to each, and the balance. Loaded from a JSON file at start or built from defaults,
//! changed through `/_emulator/account`, and the one source of who signed a request. Its ACK
//! clusters and each user's cluster RBAC grants are [`crate::cluster`]'s types.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api_error::ApiError;
use crate::cluster::{Cluster, ClusterGrant};

/// The role ACK uses to call KMS for Secret encryption; present means authorized.
pub const CS_SECURITY_ROLE: &str = "AliyunCSManagedSecurityRole";
/// The system policy that role carries.
pub const CS_SECURITY_ROLE_POLICY: &str = "AliyunCSManagedSecurityRolePolicy";
/// The system policy a RAM user managing encryption needs.
pub const KMS_CRYPTO_ADMIN_POLICY: &str = "AliyunKMSCryptoAdminAccess";
/// The user the configured AccessKeys belong to unless the account file says otherwise.
pub const DEFAULT_USER: &str = "secretkms-emulator";

/// One AccessKey of a RAM user. Debug shows the id only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKey {
    pub id: String,
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    #[serde(default)]
    pub access_keys: Vec<AccessKey>,
    /// Attached policy names; `Aliyun*` names are system policies, others custom.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Cluster RBAC roles ACK granted the user (DescribeUserPermission).
    #[serde(default)]
    pub cluster_permissions: Vec<ClusterGrant>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub policies: Vec<String>,
}

/// Amounts are decimal strings, as BSS sends them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Balance {
    pub available_amount: String,
    #[serde(default = "zero")]
    pub available_cash_amount: String,
    #[serde(default = "zero")]
    pub credit_amount: String,
    #[serde(default = "cny")]
    pub currency: String,
}

fn zero() -> String {
    "0.00".into()
}

fn cny() -> String {
    "CNY".into()
}

impl Default for Balance {
    fn default() -> Self {
        Self {
            available_amount: "10000.00".into(),
            available_cash_amount: "10000.00".into(),
            credit_amount: zero(),
            currency: cny(),
        }
    }
}

/// The account file's format (every field optional; missing ones take the defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AccountFile {
    pub account_id: Option<String>,
    pub users: Option<Vec<User>>,
    pub roles: Option<Vec<Role>>,
    pub balance: Option<Balance>,
    pub clusters: Option<Vec<Cluster>>,
}

/// The account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    pub account_id: String,
    pub users: Vec<User>,
    pub roles: Vec<Role>,
    pub balance: Balance,
    pub clusters: Vec<Cluster>,
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    User {
        name: String,
        access_key_id: String,
    },
    AssumedRole {
        role: String,
        session: String,
        access_key_id: String,
    },
}

/// A stable numeric id for a name (RAM ids are 16+ digit numbers).
pub fn numeric_id(kind: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{kind}/{name}").as_bytes());
    let n = u64::from_be_bytes(digest[..8].try_into().unwrap_or_default());
    format!("2{:015}", n % 1_000_000_000_000_000)
}

/// `System` for Alibaba Cloud's own (`Aliyun*`) policies, else `Custom`.
pub fn policy_type(name: &str) -> &'static str {
    if name.starts_with("Aliyun") {
        "System"
    } else {
        "Custom"
    }
}

impl Account {
    /// The defaults: `access_keys` belong to user [`DEFAULT_USER`] holding
    /// [`KMS_CRYPTO_ADMIN_POLICY`] and the admin role on all clusters; the ACK role is authorized
    /// with its policy; `ecs_role` exists too; the balance is 10000.00 CNY; no clusters.
    pub fn defaults(account_id: &str, access_keys: &[(String, String)], ecs_role: &str) -> Self {
        Self {
            account_id: account_id.into(),
            users: vec![User {
                name: DEFAULT_USER.into(),
                access_keys: keys(access_keys),
                policies: vec![KMS_CRYPTO_ADMIN_POLICY.into()],
                cluster_permissions: vec![ClusterGrant::all_clusters_admin()],
            }],
            roles: vec![
                Role {
                    name: CS_SECURITY_ROLE.into(),
                    description: "ACK uses this role to access KMS for Secret encryption".into(),
                    policies: vec![CS_SECURITY_ROLE_POLICY.into()],
                },
                Role {
                    name: ecs_role.into(),
                    description: "the role the emulator's ECS metadata hands out".into(),
                    policies: vec!["AliyunKMSCryptoUserAccess".into()],
                },
            ],
            balance: Balance::default(),
            clusters: Vec::new(),
        }
    }

    /// The defaults with what `file` sets replacing them; the configured `access_keys` go to
    /// [`DEFAULT_USER`] (created without policies if the file lists users but not that one)
    /// unless a user in the file already holds the key id.
    pub fn from_file(
        file: AccountFile,
        account_id: &str,
        access_keys: &[(String, String)],
        ecs_role: &str,
    ) -> Result<Self, String> {
        let mut account = Self::defaults(account_id, access_keys, ecs_role);
        if let Some(id) = file.account_id {
            account.account_id = id;
        }
        if let Some(roles) = file.roles {
            account.roles = roles;
        }
        if let Some(balance) = file.balance {
            account.balance = balance;
        }
        if let Some(clusters) = file.clusters {
            account.clusters = clusters;
        }
        if let Some(users) = file.users {
            account.users = users;
            for key in keys(access_keys) {
                if account.user_of_key(&key.id).is_some() {
                    continue;
                }
                match account.users.iter_mut().find(|u| u.name == DEFAULT_USER) {
                    Some(user) => user.access_keys.push(key),
                    None => account.users.push(User {
                        name: DEFAULT_USER.into(),
                        access_keys: vec![key],
                        policies: Vec::new(),
                        cluster_permissions: Vec::new(),
                    }),
                }
            }
        }
        account.validate()?;
        Ok(account)
    }

    /// Reads an account file (JSON).
    pub fn load(
        path: &Path,
        account_id: &str,
        access_keys: &[(String, String)],
        ecs_role: &str,
    ) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read account file {}: {e}", path.display()))?;
        let file: AccountFile = serde_json::from_str(&text).map_err(|e| {
            format!(
                "invalid account file {}: {}",
                path.display(),
                json_error(&e)
            )
        })?;
        Self::from_file(file, account_id, access_keys, ecs_role)
            .map_err(|e| format!("invalid account file {}: {e}", path.display()))
    }

    /// Names unique, AccessKey ids unique across users, amounts numbers.
    pub fn validate(&self) -> Result<(), String> {
        if self.account_id.is_empty() || !self.account_id.chars().all(|c| c.is_ascii_digit()) {
            return Err(format!("account id {:?} must be digits", self.account_id));
        }
        let mut seen = std::collections::HashSet::new();
        for user in &self.users {
            if user.name.is_empty() || !seen.insert(format!("user/{}", user.name)) {
                return Err(format!("user name {:?} is empty or repeated", user.name));
            }
            for key in &user.access_keys {
                if key.id.is_empty()
                    || key.secret.is_empty()
                    || !seen.insert(format!("key/{}", key.id))
                {
                    return Err(format!(
                        "access key {:?} of user {} is empty or held twice",
                        key.id, user.name
                    ));
                }
            }
        }
        for role in &self.roles {
            if role.name.is_empty() || !seen.insert(format!("role/{}", role.name)) {
                return Err(format!("role name {:?} is empty or repeated", role.name));
            }
        }
        for cluster in &self.clusters {
            cluster.validate()?;
            if !seen.insert(format!("cluster/{}", cluster.cluster_id)) {
                return Err(format!("cluster id {:?} is repeated", cluster.cluster_id));
            }
        }
        for (field, amount) in [
            ("available_amount", &self.balance.available_amount),
            ("available_cash_amount", &self.balance.available_cash_amount),
            ("credit_amount", &self.balance.credit_amount),
        ] {
            if amount.parse::<f64>().is_err() {
                return Err(format!(
                    "balance {field} {amount:?} is not a decimal number"
                ));
            }
        }
        Ok(())
    }

    /// Every AccessKey (id, secret) the account's users hold.
    pub fn access_keys(&self) -> Vec<(String, String)> {
        self.users
            .iter()
            .flat_map(|u| {
                u.access_keys
                    .iter()
                    .map(|k| (k.id.clone(), k.secret.clone()))
            })
            .collect()
    }

    pub fn user_of_key(&self, access_key_id: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.access_keys.iter().any(|k| k.id == access_key_id))
    }

    pub fn user(&self, name: &str) -> Result<&User, ApiError> {
        self.users.iter().find(|u| u.name == name).ok_or_else(|| {
            ApiError::new(
                404,
                "EntityNotExist.User",
                format!("The user does not exist: {name}"),
            )
        })
    }

    /// The model's spelling of a role name: RAM role names are case-insensitive (ARNs carry them
    /// lowercased), so an ARN's `aliyuncsmanagedsecurityrole` is `AliyunCSManagedSecurityRole`.
    pub fn canonical_role_name(&self, name: &str) -> String {
        self.roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
            .map_or_else(|| name.to_string(), |r| r.name.clone())
    }

    /// A RAM user by the numeric id STS reports for it (DescribeUserPermission's `uid`).
    pub fn user_by_uid(&self, uid: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| numeric_id("user", &u.name) == uid)
    }

    pub fn cluster(&self, cluster_id: &str) -> Result<&Cluster, ApiError> {
        self.clusters
            .iter()
            .find(|c| c.cluster_id == cluster_id)
            .ok_or_else(|| cluster_not_found(cluster_id))
    }

    pub fn cluster_mut(&mut self, cluster_id: &str) -> Result<&mut Cluster, ApiError> {
        self.clusters
            .iter_mut()
            .find(|c| c.cluster_id == cluster_id)
            .ok_or_else(|| cluster_not_found(cluster_id))
    }

    pub fn role(&self, name: &str) -> Result<&Role, ApiError> {
        self.roles.iter().find(|r| r.name == name).ok_or_else(|| {
            ApiError::new(
                404,
                "EntityNotExist.Role",
                format!("The role does not exist: {name}"),
            )
        })
    }

    pub fn user_arn(&self, name: &str) -> String {
        format!("acs:ram::{}:user/{name}", self.account_id)
    }

    /// RAM writes role ARNs in lowercase.
    pub fn role_arn(&self, name: &str) -> String {
        format!("acs:ram::{}:role/{}", self.account_id, name.to_lowercase())
    }

    pub fn assumed_role_arn(&self, role: &str, session: &str) -> String {
        format!(
            "acs:ram::{}:assumed-role/{}/{session}",
            self.account_id,
            role.to_lowercase()
        )
    }

    /// The signer of a verified request: a user by its AccessKey, or the role an STS credential
    /// was issued for.
    pub fn caller(
        &self,
        access_key_id: &str,
        assumed: Option<&(String, String)>,
    ) -> Option<Caller> {
        if let Some((role, session)) = assumed {
            return Some(Caller::AssumedRole {
                role: role.clone(),
                session: session.clone(),
                access_key_id: access_key_id.into(),
            });
        }
        self.user_of_key(access_key_id).map(|u| Caller::User {
            name: u.name.clone(),
            access_key_id: access_key_id.into(),
        })
    }

    /// The account's view without secrets, for `GET /_emulator/account`.
    pub fn redacted(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        if let Some(users) = value["users"].as_array_mut() {
            for user in users {
                if let Some(keys) = user["access_keys"].as_array_mut() {
                    for key in keys {
                        if let Some(key) = key.as_object_mut() {
                            key.remove("secret");
                        }
                    }
                }
            }
        }
        value
    }
}

/// A JSON error without the offending value, which may be a secret: serde's messages about
/// fields (unknown, missing, duplicate) name only the field and are kept.
pub fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.contains(" field `") {
        text
    } else {
        format!(
            "invalid {:?} json at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
        .to_lowercase()
    }
}

/// ACK's answer for a cluster id it does not know.
pub fn cluster_not_found(cluster_id: &str) -> ApiError {
    ApiError::new(
        404,
        "ErrorClusterNotFound",
        format!("cluster {cluster_id} not found"),
    )
}

/// The role name in a role ARN (`acs:ram::<account>:role/<name>`).
pub fn role_name_of_arn(arn: &str) -> String {
    arn.rsplit_once(":role/")
        .map_or(arn, |(_, name)| name)
        .to_string()
}

fn keys(access_keys: &[(String, String)]) -> Vec<AccessKey> {
    access_keys
        .iter()
        .map(|(id, secret)| AccessKey {
            id: id.clone(),
            secret: secret.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ak() -> Vec<(String, String)> {
        vec![("AK1".into(), "s1".into())]
    }

    #[test]
    fn defaults_authorize_ack_and_give_the_key_to_an_admin_user() {
        let account = Account::defaults("123", &ak(), "ecs-role");
        assert_eq!(
            account.caller("AK1", None),
            Some(Caller::User {
                name: DEFAULT_USER.into(),
                access_key_id: "AK1".into()
            })
        );
        assert_eq!(
            account.role(CS_SECURITY_ROLE).unwrap().policies,
            [CS_SECURITY_ROLE_POLICY]
        );
        assert_eq!(
            account.user(DEFAULT_USER).unwrap().policies,
            [KMS_CRYPTO_ADMIN_POLICY]
        );
        assert_eq!(
            account.role("nope").unwrap_err().code,
            "EntityNotExist.Role"
        );
        assert!(!account.redacted().to_string().contains("s1"));
        assert!(!format!("{account:?}").contains("s1"));
    }

    #[test]
    fn a_file_replaces_what_it_sets_and_keeps_the_configured_key() {
        let file: AccountFile = serde_json::from_str(
            r#"{"account_id":"99","users":[{"name":"alice","access_keys":[{"id":"AK2","secret":"s2"}]}],
                "roles":[],"balance":{"available_amount":"-5.00"}}"#,
        )
        .unwrap();
        let account = Account::from_file(file, "123", &ak(), "ecs-role").unwrap();
        assert_eq!(account.account_id, "99");
        assert!(account.roles.is_empty());
        assert_eq!(account.balance.currency, "CNY");
        assert_eq!(account.user_of_key("AK2").unwrap().name, "alice");
        let default = account.user_of_key("AK1").unwrap();
        assert_eq!(
            (default.name.as_str(), default.policies.len()),
            (DEFAULT_USER, 0)
        );
        assert_eq!(account.user_arn("alice"), "acs:ram::99:user/alice");

        let twice: AccountFile = serde_json::from_str(
            r#"{"users":[{"name":"a","access_keys":[{"id":"K","secret":"x"}]},{"name":"b","access_keys":[{"id":"K","secret":"y"}]}]}"#,
        )
        .unwrap();
        let err = Account::from_file(twice, "123", &ak(), "r").unwrap_err();
        assert!(err.contains("held twice"), "{err}");
        let leak = serde_json::from_str::<AccountFile>(r#"{"users":"top-secret"}"#).unwrap_err();
        assert!(
            !json_error(&leak).contains("top-secret"),
            "{}",
            json_error(&leak)
        );
        let field = serde_json::from_str::<AccountFile>(r#"{"user":[]}"#).unwrap_err();
        assert!(json_error(&field).contains("unknown field `user`"));
        assert_eq!(
            account.canonical_role_name("aliyuncsmanagedsecurityrole"),
            "aliyuncsmanagedsecurityrole",
            "roles were replaced by the file's empty list"
        );
        let defaults = Account::defaults("1", &ak(), "r");
        assert_eq!(
            defaults.canonical_role_name("aliyuncsmanagedsecurityrole"),
            CS_SECURITY_ROLE
        );
        assert!(serde_json::from_str::<AccountFile>(r#"{"user":[]}"#).is_err());
    }
}
