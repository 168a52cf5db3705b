//! The cluster as ACK describes it (CS DescribeClusterDetail): it must be `running` for ACK to
//! accept a change, and its Kubernetes version decides the KMS API it will use — ACK Pro
//! clusters use KMS v2 from Kubernetes 1.31 and KMS v1 before (ACK, "Use KMS to encrypt
//! Kubernetes Secrets", https://www.alibabacloud.com/help/en/ack/ack-managed-and-ack-dedicated/security-and-compliance/use-kms-to-encrypt-kubernetes-secrets-2;
//! `shared/reference/alibaba-kms.md` §8.2).

use secretkms_alibaba::cs::{ClusterDetail, ClusterState};
use serde::Serialize;

use crate::checklist::Check;

/// The first Kubernetes version ACK runs with KMS v2.
pub const KMS_V2_FROM: (u32, u32) = (1, 31);
/// Where [`KMS_V2_FROM`] comes from.
pub const KMS_V2_SOURCE: &str =
    "ACK docs, Use KMS to encrypt Kubernetes Secrets: KMS v2 from Kubernetes 1.31";

/// The KMS API of the apiserver's envelope encryption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KmsApi {
    V1,
    V2,
}

/// The KMS API ACK uses for a cluster of `minor` (major, minor).
pub fn kms_api(minor: (u32, u32)) -> KmsApi {
    if minor >= KMS_V2_FROM {
        KmsApi::V2
    } else {
        KmsApi::V1
    }
}

/// `running` passes; a change in progress or any other state fails, as ACK refuses changes then.
pub fn state_check(detail: &ClusterDetail) -> Check {
    const NAME: &str = "cluster-state";
    match &detail.state {
        ClusterState::Running => Check::pass(NAME, format!("{} is running", detail.cluster_id)),
        s if s.is_in_progress() => Check::fail(
            NAME,
            format!(
                "{} is {}: ACK accepts no change until it is running",
                detail.cluster_id,
                s.as_str()
            ),
        )
        .fix("wait until the cluster is running (aliyun cs DescribeClusterDetail --ClusterId ...)"),
        s => Check::fail(
            NAME,
            format!(
                "{} is {}: ACK cannot change its encryption",
                detail.cluster_id,
                s.as_str()
            ),
        ),
    }
}

/// The API the cluster will use, from its Kubernetes version.
pub fn api_check(detail: &ClusterDetail) -> (Check, Option<KmsApi>) {
    const NAME: &str = "kms-api-version";
    match detail.kubernetes_minor() {
        Some(minor) => {
            let api = kms_api(minor);
            let text = match api {
                KmsApi::V2 => "KMS v2",
                KmsApi::V1 => {
                    "KMS v1 (every Secret write calls KMS; KMS v2 from 1.31 after an upgrade)"
                }
            };
            (
                Check::info(
                    NAME,
                    format!(
                        "Kubernetes {}: {text} ({KMS_V2_SOURCE})",
                        detail.kubernetes_version()
                    ),
                ),
                Some(api),
            )
        }
        None => (
            Check::unchecked(
                NAME,
                format!(
                    "the cluster's version {:?} does not parse",
                    detail.current_version
                ),
            ),
            None,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Level;

    fn detail(state: ClusterState, version: &str) -> ClusterDetail {
        ClusterDetail {
            cluster_id: "c1".into(),
            state,
            current_version: version.into(),
            ..Default::default()
        }
    }

    #[test]
    fn kms_v2_from_1_31() {
        assert_eq!(kms_api((1, 30)), KmsApi::V1);
        assert_eq!(kms_api((1, 31)), KmsApi::V2);
        assert_eq!(kms_api((2, 0)), KmsApi::V2);
        let (check, api) = api_check(&detail(ClusterState::Running, "1.33.1-aliyun.1"));
        assert_eq!(api, Some(KmsApi::V2));
        assert!(
            check.detail.starts_with("Kubernetes 1.33.1: KMS v2"),
            "{}",
            check.detail
        );
        let (check, api) = api_check(&detail(ClusterState::Running, "garbage"));
        assert_eq!((check.level, api), (Level::Warn, None));
    }

    #[test]
    fn only_a_running_cluster_takes_a_change() {
        assert_eq!(
            state_check(&detail(ClusterState::Running, "1.31.1")).level,
            Level::Pass
        );
        let updating = state_check(&detail(ClusterState::Updating, "1.31.1"));
        assert_eq!(updating.level, Level::Fail);
        assert!(updating.detail.contains("updating"));
    }
}
