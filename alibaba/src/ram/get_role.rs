//! GetRole: a RAM role by name — for ACK, whether the account has authorized
//! `AliyunCSManagedSecurityRole` (a missing role is [`RamError::RoleNotFound`](super::RamError)).

use serde::{Deserialize, Serialize};

use super::{RamClient, Result};
use crate::openapi::param;

/// A RAM role, with the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Role {
    pub role_id: String,
    pub role_name: String,
    /// `acs:ram::<account>:role/<name>` (lowercase as RAM returns it).
    pub arn: String,
    pub description: String,
    /// The trust policy, a JSON document as a string.
    pub assume_role_policy_document: String,
    pub create_date: String,
    pub update_date: String,
    pub max_session_duration: Option<u64>,
    pub is_service_linked_role: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct GetRoleResponse {
    pub request_id: String,
    pub role: Role,
}

impl RamClient {
    /// GetRole(RoleName).
    pub async fn get_role(&self, role_name: &str) -> Result<GetRoleResponse> {
        self.call("GetRole", vec![param("RoleName", role_name)])
            .await
    }
}
