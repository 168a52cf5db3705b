//! DescribeUserPermission (`GET /permissions/users/{uid}`): the cluster RBAC roles ACK has
//! granted a RAM user or role, and the one question secretkms asks of them — may this principal
//! change a cluster's Secret encryption (its admin or O&M role)?

use serde::{Deserialize, Deserializer, Serialize};

use super::client::segment;
use super::{CsClient, Result};

/// The scope of one grant, as `resource_type` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResourceType {
    /// `resource_id` is `{cluster_id}`.
    #[default]
    Cluster,
    /// `resource_id` is `{cluster_id}/{namespace}`.
    Namespace,
    /// Every cluster of the account (`resource_id` `all-clusters`).
    Console,
    /// A scope this client does not know.
    #[serde(other)]
    Other,
}

/// The preset role of one grant, as `role_type` names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClusterRoleType {
    Admin,
    /// The O&M engineer role.
    Ops,
    Dev,
    #[default]
    Restricted,
    /// A custom ClusterRole named by `role_name`.
    Custom,
    /// A role type this client does not know.
    #[serde(other)]
    Other,
}

/// One grant, with the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ClusterPermission {
    pub resource_id: String,
    pub resource_type: ResourceType,
    /// The custom role's name when `role_type` is `custom`.
    pub role_name: String,
    pub role_type: ClusterRoleType,
    /// Whether this is the cluster creator's grant (`1`/`0` on the wire).
    #[serde(deserialize_with = "flag")]
    pub is_owner: bool,
    /// Whether the grant is to a RAM role rather than a user (`1`/`0` on the wire).
    #[serde(deserialize_with = "flag")]
    pub is_ram_role: bool,
}

impl ClusterPermission {
    /// Whether this grant lets its holder call `UpdateKMSEncryption` on `cluster_id`: the admin
    /// or O&M role on that cluster or on all clusters. Namespace grants never do.
    pub fn allows_kms_update(&self, cluster_id: &str) -> bool {
        let role = matches!(
            self.role_type,
            ClusterRoleType::Admin | ClusterRoleType::Ops
        );
        let scope = match self.resource_type {
            ResourceType::Cluster => self.resource_id == cluster_id,
            ResourceType::Console => true,
            ResourceType::Namespace | ResourceType::Other => false,
        };
        role && scope
    }
}

/// `1`, `0`, `true`, `false` or absent.
fn flag<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(
        match Option::<serde_json::Value>::deserialize(deserializer)? {
            Some(serde_json::Value::Bool(b)) => b,
            Some(serde_json::Value::Number(n)) => n.as_i64().is_some_and(|n| n != 0),
            Some(serde_json::Value::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
            _ => false,
        },
    )
}

impl CsClient {
    /// DescribeUserPermission(uid): `uid` is the RAM user's or role's id (not its name).
    pub async fn describe_user_permission(&self, uid: &str) -> Result<Vec<ClusterPermission>> {
        self.call(
            "DescribeUserPermission",
            "GET",
            format!("/permissions/users/{}", segment(uid)),
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_grants_and_tells_which_allow_a_kms_update() {
        let grants: Vec<ClusterPermission> = serde_json::from_str(
            r#"[{"resource_id":"c1","resource_type":"cluster","role_name":"","role_type":"ops","is_owner":0,"is_ram_role":0},
                {"resource_id":"c2/default","resource_type":"namespace","role_type":"admin","is_owner":1},
                {"resource_id":"all-clusters","resource_type":"console","role_type":"admin"},
                {"resource_id":"c3","resource_type":"cluster","role_type":"dev","is_ram_role":true}]"#,
        )
        .unwrap();
        assert!(grants[0].allows_kms_update("c1"));
        assert!(!grants[0].allows_kms_update("c9"));
        assert!(grants[1].is_owner && !grants[1].allows_kms_update("c2"));
        assert!(grants[2].allows_kms_update("c9"));
        assert!(grants[3].is_ram_role && !grants[3].allows_kms_update("c3"));
    }
}
