//! DescribeClusterDetail (`GET /clusters/{ClusterId}`): the cluster's state, Kubernetes version,
//! region and type, and — as far as ACK reports it — its Secret-encryption key.
//!
//! Which field carries the Secret-encryption key is UNCONFIRMED (shared reference: "no read API
//! returning the current Secret-encryption key was found"). This client reads
//! [`META_DATA_ENCRYPTION_KEY`] from the `meta_data` JSON string, then from the ROS `parameters`,
//! the two places ACK keeps creation-time settings such as `encryption_provider_key`; the local
//! ACK writes it there, so a real cluster that does not report it reads as "unknown", not "off".

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::segment;
use super::{ClusterState, CsClient, Result};

/// The `meta_data` (and `parameters`) key this client reads the Secret-encryption key from.
pub const META_DATA_ENCRYPTION_KEY: &str = "EncryptionProviderKey";

/// The answer of DescribeClusterDetail, with the API's field names (the fields secretkms reads;
/// others are ignored).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(default)]
pub struct ClusterDetail {
    pub cluster_id: String,
    pub name: String,
    pub region_id: String,
    pub state: ClusterState,
    /// `ManagedKubernetes`, `Kubernetes` (dedicated), `ExternalKubernetes` (registered).
    pub cluster_type: String,
    /// `Default`, `Edge`, `Serverless`, `Lingjun`.
    pub profile: String,
    /// `ack.standard`, `ack.pro.small`, ...
    pub cluster_spec: String,
    /// The running Kubernetes version, e.g. `1.33.1-aliyun.1`.
    pub current_version: String,
    pub init_version: String,
    pub next_version: String,
    /// A JSON document as a string.
    pub meta_data: String,
    /// The cluster's ROS parameters.
    pub parameters: BTreeMap<String, serde_json::Value>,
    pub created: String,
    pub updated: String,
}

impl ClusterDetail {
    /// The Kubernetes version without ACK's suffix: `1.33.1` from `1.33.1-aliyun.1`.
    pub fn kubernetes_version(&self) -> &str {
        let version = self.current_version.trim_start_matches('v');
        version.split_once('-').map_or(version, |(v, _)| v)
    }

    /// `(major, minor)` of [`kubernetes_version`](Self::kubernetes_version), when it parses.
    pub fn kubernetes_minor(&self) -> Option<(u32, u32)> {
        let mut parts = self.kubernetes_version().split('.');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    }

    /// The KMS key Secrets are encrypted with, as ACK reports it: `Some(Some(key))` on,
    /// `Some(None)` reported off (the field present and empty), `None` not reported.
    pub fn secret_encryption_key(&self) -> Option<Option<String>> {
        let from_meta = serde_json::from_str::<serde_json::Value>(&self.meta_data)
            .ok()
            .and_then(|meta| meta.get(META_DATA_ENCRYPTION_KEY).cloned());
        let value = from_meta.or_else(|| self.parameters.get(META_DATA_ENCRYPTION_KEY).cloned())?;
        match value {
            serde_json::Value::String(key) if !key.is_empty() => Some(Some(key)),
            serde_json::Value::String(_) | serde_json::Value::Null => Some(None),
            _ => None,
        }
    }
}

impl CsClient {
    /// DescribeClusterDetail(ClusterId).
    pub async fn describe_cluster_detail(&self, cluster_id: &str) -> Result<ClusterDetail> {
        self.call(
            "DescribeClusterDetail",
            "GET",
            format!("/clusters/{}", segment(cluster_id)),
            None,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_api_answer() {
        let detail: ClusterDetail = serde_json::from_str(
            r#"{"cluster_id":"c1","region_id":"cn-hangzhou","state":"updating",
                "cluster_type":"ManagedKubernetes","profile":"Default","current_version":"1.33.1-aliyun.1",
                "meta_data":"{\"EncryptionProviderKey\":\"key-1\",\"KubernetesVersion\":\"1.33.1\"}",
                "size":3,"tags":[]}"#,
        )
        .unwrap();
        assert_eq!(detail.state, ClusterState::Updating);
        assert_eq!(detail.kubernetes_version(), "1.33.1");
        assert_eq!(detail.kubernetes_minor(), Some((1, 33)));
        assert_eq!(detail.secret_encryption_key(), Some(Some("key-1".into())));
    }

    #[test]
    fn an_unreported_key_is_not_read_as_off() {
        let silent = ClusterDetail {
            meta_data: r#"{"KubernetesVersion":"1.33.1"}"#.into(),
            ..Default::default()
        };
        assert_eq!(silent.secret_encryption_key(), None);
        let off = ClusterDetail {
            meta_data: r#"{"EncryptionProviderKey":""}"#.into(),
            ..Default::default()
        };
        assert_eq!(off.secret_encryption_key(), Some(None));
        let from_parameters = ClusterDetail {
            parameters: [(META_DATA_ENCRYPTION_KEY.to_string(), "key-2".into())].into(),
            ..Default::default()
        };
        assert_eq!(
            from_parameters.secret_encryption_key(),
            Some(Some("key-2".into()))
        );
    }
}
