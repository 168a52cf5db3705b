//! A cluster's `state` as DescribeClusterDetail reports it; a state this client does not know is
//! kept as sent rather than refused, since ACK adds states over time.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The lifecycle state of an ACK cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClusterState {
    /// `initial`: being created.
    Initial,
    /// `failed`: creation (or, on the local ACK, the last change) failed.
    Failed,
    /// `running`.
    #[default]
    Running,
    /// `updating`: a change such as `UpdateKMSEncryption` is being applied.
    Updating,
    /// `upgrading`: the Kubernetes version is being upgraded.
    Upgrading,
    /// `removing`, `draining`, `scaling`: node changes.
    Removing,
    Draining,
    Scaling,
    /// `stopped`, `inactive`, `unavailable`, `disconnected`.
    Stopped,
    Inactive,
    Unavailable,
    Disconnected,
    /// `deleting`, `deleted`, `delete_failed`.
    Deleting,
    Deleted,
    DeleteFailed,
    /// `waiting`: a registered cluster waiting for access.
    Waiting,
    /// A state this client does not know, as sent.
    Unknown(String),
}

impl ClusterState {
    /// The state as the API spells it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Initial => "initial",
            Self::Failed => "failed",
            Self::Running => "running",
            Self::Updating => "updating",
            Self::Upgrading => "upgrading",
            Self::Removing => "removing",
            Self::Draining => "draining",
            Self::Scaling => "scaling",
            Self::Stopped => "stopped",
            Self::Inactive => "inactive",
            Self::Unavailable => "unavailable",
            Self::Disconnected => "disconnected",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::DeleteFailed => "delete_failed",
            Self::Waiting => "waiting",
            Self::Unknown(other) => other,
        }
    }

    /// Whether a change is still being applied, so a waiter should keep polling.
    pub fn is_in_progress(&self) -> bool {
        matches!(
            self,
            Self::Initial
                | Self::Updating
                | Self::Upgrading
                | Self::Removing
                | Self::Draining
                | Self::Scaling
                | Self::Deleting
        )
    }
}

impl From<&str> for ClusterState {
    fn from(text: &str) -> Self {
        match text {
            "initial" => Self::Initial,
            "failed" => Self::Failed,
            "running" => Self::Running,
            "updating" => Self::Updating,
            "upgrading" => Self::Upgrading,
            "removing" => Self::Removing,
            "draining" => Self::Draining,
            "scaling" => Self::Scaling,
            "stopped" => Self::Stopped,
            "inactive" => Self::Inactive,
            "unavailable" => Self::Unavailable,
            "disconnected" => Self::Disconnected,
            "deleting" => Self::Deleting,
            "deleted" => Self::Deleted,
            "delete_failed" => Self::DeleteFailed,
            "waiting" => Self::Waiting,
            other => Self::Unknown(other.to_string()),
        }
    }
}

impl fmt::Display for ClusterState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ClusterState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ClusterState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::from(String::deserialize(deserializer)?.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_states_round_trip_and_unknown_ones_are_kept() {
        for text in ["running", "updating", "failed", "delete_failed"] {
            let state: ClusterState = serde_json::from_value(text.into()).unwrap();
            assert_eq!(serde_json::to_value(&state).unwrap(), text);
        }
        let odd: ClusterState = serde_json::from_value("hibernating".into()).unwrap();
        assert_eq!(odd, ClusterState::Unknown("hibernating".into()));
        assert!(ClusterState::Updating.is_in_progress());
        assert!(!ClusterState::Running.is_in_progress());
    }
}
