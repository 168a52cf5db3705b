//! The emulated ACK clusters of the account: what DescribeClusterDetail reports (id, region,
//! type, Kubernetes version, state, Secret-encryption key), the cool-down between
//! `UpdateKMSEncryption` calls, and where the cluster agent that really applies a change listens
//! (see [`crate::cs::agent`]). Also the cluster RBAC grants a RAM user holds
//! (DescribeUserPermission's records), kept on each user of the account model.

use serde::{Deserialize, Serialize};

use secretkms_alibaba::openapi::endpoint::require_secure_or_loopback;
use secretkms_alibaba::openapi::signature::{format_timestamp, parse_timestamp};
use time::OffsetDateTime;

/// ACK wants more than about five minutes between two `UpdateKMSEncryption` calls.
pub const DEFAULT_COOL_DOWN_SECONDS: u64 = 300;
/// The grant `resource_id` that covers every cluster of the account.
pub const ALL_CLUSTERS: &str = "all-clusters";

/// One cluster, as the account file and `/_emulator/clusters` give it. Everything but the id is
/// optional; the state fields are normally the emulator's to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    pub cluster_id: String,
    #[serde(default)]
    pub name: String,
    /// Defaults to the emulator's region.
    #[serde(default)]
    pub region_id: Option<String>,
    #[serde(default = "default_version")]
    pub current_version: String,
    #[serde(default = "managed")]
    pub cluster_type: String,
    #[serde(default = "default_profile")]
    pub profile: String,
    #[serde(default = "pro")]
    pub cluster_spec: String,
    /// The loopback URL the cluster agent listens on; without one, a change only moves the
    /// model (`updating`, then `running` after [`MODEL_ONLY_APPLY_MS`](crate::cs::agent)).
    #[serde(default)]
    pub agent_url: Option<String>,
    #[serde(default = "cool_down")]
    pub cool_down_seconds: u64,
    /// `running`, `updating`, `failed`, ...
    #[serde(default = "running")]
    pub state: String,
    /// The key Secrets are encrypted with; `None` when KMS encryption is off.
    #[serde(default)]
    pub kms_key_id: Option<String>,
    /// When the last `UpdateKMSEncryption` was accepted (`yyyy-MM-ddTHH:mm:ssZ`).
    #[serde(default)]
    pub last_kms_update: Option<String>,
    /// Why the last change failed, as the agent said it.
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

fn default_version() -> String {
    "1.33.1-aliyun.1".into()
}
fn managed() -> String {
    "ManagedKubernetes".into()
}
fn default_profile() -> String {
    "Default".into()
}
fn pro() -> String {
    "ack.pro.small".into()
}
fn cool_down() -> u64 {
    DEFAULT_COOL_DOWN_SECONDS
}
fn running() -> String {
    "running".into()
}

impl Cluster {
    /// Id shape (`c` + letters, digits, dashes, as ACK's `c0123…`), known agent URL rules.
    pub fn validate(&self) -> Result<(), String> {
        let id = &self.cluster_id;
        if id.is_empty()
            || id.len() > 64
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(format!(
                "cluster id {id:?} must be 1-64 letters, digits, dashes or underscores"
            ));
        }
        if let Some(url) = &self.agent_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| format!("cluster {id}: agent_url {url:?} is not a url: {e}"))?;
            require_secure_or_loopback(&parsed).map_err(|e| format!("cluster {id}: {e}"))?;
        }
        if let Some(at) = &self.last_kms_update
            && parse_timestamp(at).is_none()
        {
            return Err(format!(
                "cluster {id}: last_kms_update {at:?} is not yyyy-MM-ddTHH:mm:ssZ"
            ));
        }
        Ok(())
    }

    /// Seconds left of the cool-down at `now`, if any.
    pub fn cool_down_left(&self, now: OffsetDateTime) -> Option<u64> {
        let last = parse_timestamp(self.last_kms_update.as_deref()?)?;
        let left = last + time::Duration::seconds(self.cool_down_seconds as i64) - now;
        (left > time::Duration::ZERO).then(|| left.whole_seconds().max(1) as u64)
    }

    /// Records an accepted change at `now`.
    pub fn begin_update(&mut self, now: OffsetDateTime) {
        self.state = "updating".into();
        self.last_kms_update = Some(format_timestamp(now));
        self.last_error = None;
    }
}

/// One cluster RBAC grant of a RAM user, in DescribeUserPermission's terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterGrant {
    /// `{cluster_id}`, `{cluster_id}/{namespace}` or `all-clusters`.
    pub resource_id: String,
    /// `cluster`, `namespace` or `console`; derived from `resource_id` when omitted.
    #[serde(default)]
    pub resource_type: Option<String>,
    /// `admin`, `ops`, `dev`, `restricted` or `custom`.
    pub role_type: String,
    #[serde(default)]
    pub role_name: String,
    #[serde(default)]
    pub is_owner: bool,
}

impl ClusterGrant {
    /// The scope as the API names it.
    pub fn resource_type(&self) -> &str {
        match &self.resource_type {
            Some(t) => t,
            None if self.resource_id == ALL_CLUSTERS => "console",
            None if self.resource_id.contains('/') => "namespace",
            None => "cluster",
        }
    }

    /// Whether the grant is the admin or O&M role on `cluster_id` (or on all clusters): what
    /// `UpdateKMSEncryption` requires.
    pub fn allows_kms_update(&self, cluster_id: &str) -> bool {
        let role = matches!(self.role_type.as_str(), "admin" | "ops");
        let scope = match self.resource_type() {
            "console" => true,
            "cluster" => self.resource_id == cluster_id,
            _ => false,
        };
        role && scope
    }

    /// The full-access grant the default user holds, as the account's own AccessKey would.
    pub fn all_clusters_admin() -> Self {
        Self {
            resource_id: ALL_CLUSTERS.into(),
            resource_type: None,
            role_type: "admin".into(),
            role_name: String::new(),
            is_owner: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> Cluster {
        serde_json::from_str(r#"{"cluster_id":"c1","cool_down_seconds":300}"#).unwrap()
    }

    #[test]
    fn the_cool_down_runs_from_the_last_accepted_change() {
        let mut c = cluster();
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        assert_eq!(c.cool_down_left(now), None);
        c.begin_update(now);
        assert_eq!(c.state, "updating");
        assert_eq!(
            c.cool_down_left(now + time::Duration::seconds(100)),
            Some(200)
        );
        assert_eq!(c.cool_down_left(now + time::Duration::seconds(301)), None);
    }

    #[test]
    fn ids_and_agent_urls_are_checked() {
        let mut c = cluster();
        assert!(c.validate().is_ok());
        c.agent_url = Some("http://10.0.0.1:80/".into());
        assert!(c.validate().unwrap_err().contains("loopback"));
        c.agent_url = Some("http://127.0.0.1:9/apply".into());
        assert!(c.validate().is_ok());
        c.cluster_id = "../x".into();
        assert!(c.validate().is_err());
    }

    #[test]
    fn only_admin_or_ops_on_the_cluster_allows_a_kms_update() {
        let grant = |id: &str, role: &str| ClusterGrant {
            resource_id: id.into(),
            resource_type: None,
            role_type: role.into(),
            role_name: String::new(),
            is_owner: false,
        };
        assert!(grant("c1", "ops").allows_kms_update("c1"));
        assert!(!grant("c2", "admin").allows_kms_update("c1"));
        assert!(!grant("c1/default", "admin").allows_kms_update("c1"));
        assert!(!grant("c1", "dev").allows_kms_update("c1"));
        assert!(grant(ALL_CLUSTERS, "admin").allows_kms_update("c9"));
        assert_eq!(grant("c1/ns", "dev").resource_type(), "namespace");
    }
}
