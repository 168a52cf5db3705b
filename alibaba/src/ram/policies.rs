//! ListPoliciesForRole / ListPoliciesForUser: the policies attached to a role or a RAM user, in
//! the one answer shape both share (`Policies.Policy[]`).

use serde::{Deserialize, Serialize};

use super::{RamClient, Result};
use crate::openapi::param;

/// One attached policy.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AttachedPolicy {
    pub policy_name: String,
    /// `System` or `Custom`.
    pub policy_type: String,
    pub description: String,
    pub default_version: String,
    pub attach_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Policies {
    pub policy: Vec<AttachedPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListPoliciesResponse {
    pub request_id: String,
    pub policies: Policies,
}

impl ListPoliciesResponse {
    /// Whether a policy of that name (and, when given, type) is attached.
    pub fn has(&self, policy_name: &str, policy_type: Option<&str>) -> bool {
        self.policies
            .policy
            .iter()
            .any(|p| p.policy_name == policy_name && policy_type.is_none_or(|t| p.policy_type == t))
    }
}

impl RamClient {
    /// ListPoliciesForRole(RoleName).
    pub async fn list_policies_for_role(&self, role_name: &str) -> Result<ListPoliciesResponse> {
        self.call("ListPoliciesForRole", vec![param("RoleName", role_name)])
            .await
    }

    /// ListPoliciesForUser(UserName).
    pub async fn list_policies_for_user(&self, user_name: &str) -> Result<ListPoliciesResponse> {
        self.call("ListPoliciesForUser", vec![param("UserName", user_name)])
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_api_answer() {
        let answer: ListPoliciesResponse = serde_json::from_str(
            r#"{"RequestId":"r","Policies":{"Policy":[{"PolicyName":"AliyunKMSCryptoAdminAccess","PolicyType":"System","AttachDate":"2026-01-01T00:00:00Z"}]}}"#,
        )
        .unwrap();
        assert!(answer.has("AliyunKMSCryptoAdminAccess", Some("System")));
        assert!(!answer.has("AliyunKMSCryptoAdminAccess", Some("Custom")));
        assert!(!answer.has("AliyunKMSFullAccess", None));
    }
}
