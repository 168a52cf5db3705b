//! The caller holds the cluster's RBAC admin or O&M role, without which ACK answers
//! UpdateKMSEncryption with `ForbiddenUpdateKMSState`: CS DescribeUserPermission for the caller's
//! RAM user or role id (from STS). The account itself holds every cluster.

use secretkms_alibaba::cs::{ClusterPermission, CsClient, CsError};
use secretkms_alibaba::sts::{CallerIdentity, IdentityType};

use crate::checklist::Check;

const NAME: &str = "caller-cluster-role";

/// The judgement on the caller's grants for `cluster_id`.
pub fn judge(cluster_id: &str, whom: &str, grants: &[ClusterPermission]) -> Check {
    match grants.iter().find(|g| g.allows_kms_update(cluster_id)) {
        Some(g) => Check::pass(
            NAME,
            format!(
                "{whom} holds the {} role on {}",
                serde_json::to_value(&g.role_type)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                if g.resource_id.is_empty() { cluster_id } else { &g.resource_id }
            ),
        ),
        None => Check::fail(
            NAME,
            format!(
                "{whom} holds neither the admin nor the O&M role of cluster {cluster_id}: ACK refuses the change (ForbiddenUpdateKMSState)"
            ),
        )
        .fix(format!(
            "as the account or a cluster admin, grant the admin or O&M role of {cluster_id} to {whom} (ACK console: Authorizations > RAM users/roles, or aliyun cs GrantPermissions)"
        )),
    }
}

pub async fn check(cs: &CsClient, cluster_id: &str, caller: &CallerIdentity) -> Check {
    let (whom, uid) = match &caller.identity_type {
        IdentityType::Account => {
            return Check::pass(NAME, format!("{} is the account itself", caller.arn));
        }
        IdentityType::RamUser => (
            format!("RAM user {}", caller.user_name().unwrap_or(&caller.arn)),
            caller.user_id.clone(),
        ),
        IdentityType::AssumedRoleUser => (
            format!("RAM role {}", caller.role_name().unwrap_or(&caller.arn)),
            caller.role_id.clone(),
        ),
        IdentityType::Other => {
            return Check::unchecked(
                NAME,
                format!("{} is neither a RAM user nor a role", caller.arn),
            );
        }
    };
    let Some(uid) = uid.filter(|u| !u.is_empty()) else {
        return Check::unchecked(NAME, format!("STS named no id for {whom}"));
    };
    match cs.describe_user_permission(&uid).await {
        Ok(grants) => judge(cluster_id, &whom, &grants),
        Err(e @ CsError::NoPermission(_)) => {
            Check::unchecked(NAME, e).fix("grant cs:DescribeUserPermission to check")
        }
        Err(e) => Check::unchecked(NAME, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Level;
    use secretkms_alibaba::cs::{ClusterRoleType, ResourceType};

    fn grant(
        resource_type: ResourceType,
        id: &str,
        role_type: ClusterRoleType,
    ) -> ClusterPermission {
        ClusterPermission {
            resource_id: id.into(),
            resource_type,
            role_type,
            ..Default::default()
        }
    }

    #[test]
    fn admin_or_ops_on_the_cluster_or_all_clusters() {
        let ops = [grant(ResourceType::Cluster, "c1", ClusterRoleType::Ops)];
        assert_eq!(judge("c1", "RAM user a", &ops).level, Level::Pass);
        assert_eq!(judge("c2", "RAM user a", &ops).level, Level::Fail);
        let dev = [grant(ResourceType::Cluster, "c1", ClusterRoleType::Dev)];
        let denied = judge("c1", "RAM user a", &dev);
        assert_eq!(denied.level, Level::Fail);
        assert!(denied.detail.contains("ForbiddenUpdateKMSState"));
        let all = [grant(
            ResourceType::Console,
            "all-clusters",
            ClusterRoleType::Admin,
        )];
        assert_eq!(judge("c9", "RAM user a", &all).level, Level::Pass);
    }
}
