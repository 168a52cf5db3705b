//! GetCallerIdentity: the account, ARN and kind of identity behind the signing credentials.

use serde::{Deserialize, Serialize};

use super::{Result, StsClient};

/// What kind of identity signed the request, as STS names it in `IdentityType`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum IdentityType {
    /// The Alibaba Cloud account itself (its root AccessKey).
    Account,
    /// A RAM user's AccessKey.
    #[serde(rename = "RAMUser")]
    RamUser,
    /// STS credentials of an assumed RAM role.
    AssumedRoleUser,
    /// A type this client does not know yet.
    #[default]
    #[serde(other)]
    Other,
}

/// The answer of GetCallerIdentity, with the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct CallerIdentity {
    pub request_id: String,
    pub account_id: String,
    /// `acs:ram::<account>:user/<name>`, `acs:ram::<account>:assumed-role/<role>/<session>` or
    /// `acs:ram::<account>:root`.
    pub arn: String,
    pub identity_type: IdentityType,
    pub principal_id: String,
    /// Set for RAM users and the account.
    pub user_id: Option<String>,
    /// Set for assumed roles.
    pub role_id: Option<String>,
}

impl CallerIdentity {
    /// The RAM user's name from a user ARN.
    pub fn user_name(&self) -> Option<&str> {
        self.arn.split_once(":user/").map(|(_, name)| name)
    }

    /// The role's name from an assumed-role ARN.
    pub fn role_name(&self) -> Option<&str> {
        let (_, rest) = self.arn.split_once(":assumed-role/")?;
        Some(rest.split_once('/').map_or(rest, |(role, _)| role))
    }
}

impl StsClient {
    /// GetCallerIdentity (no parameters).
    pub async fn get_caller_identity(&self) -> Result<CallerIdentity> {
        self.call("GetCallerIdentity", Vec::new()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_api_answer_and_names_the_principal() {
        let user: CallerIdentity = serde_json::from_str(
            r#"{"RequestId":"r","AccountId":"123","Arn":"acs:ram::123:user/alice","IdentityType":"RAMUser","PrincipalId":"2000","UserId":"2000"}"#,
        )
        .unwrap();
        assert_eq!(user.identity_type, IdentityType::RamUser);
        assert_eq!(user.user_name(), Some("alice"));
        assert_eq!(user.role_name(), None);
        let role: CallerIdentity = serde_json::from_str(
            r#"{"Arn":"acs:ram::123:assumed-role/AliyunCSManagedSecurityRole/s1","IdentityType":"AssumedRoleUser","RoleId":"300"}"#,
        )
        .unwrap();
        assert_eq!(role.role_name(), Some("AliyunCSManagedSecurityRole"));
        let odd: CallerIdentity = serde_json::from_str(r#"{"IdentityType":"Federated"}"#).unwrap();
        assert_eq!(odd.identity_type, IdentityType::Other);
    }
}
