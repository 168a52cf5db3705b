//! One ActionTrail event as LookupEvents returns it: the event-log form with camelCase fields
//! (`eventName`, `eventTime`, `userIdentity`, ...), of which the typed fields are the ones the
//! ACK checks read; everything else is kept in [`Event::other`].

use serde::{Deserialize, Serialize};

/// Who made the call.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct UserIdentity {
    /// `root-account`, `ram-user`, `assumed-role`, ...
    #[serde(rename = "type")]
    pub kind: String,
    pub principal_id: String,
    pub account_id: String,
    pub access_key_id: String,
    /// The RAM user's name, or `<role>:<session>` for an assumed role.
    pub user_name: String,
}

impl UserIdentity {
    /// The assumed role's name, for `assumed-role` identities.
    pub fn role_name(&self) -> Option<&str> {
        (self.kind == "assumed-role").then(|| self.user_name.split(':').next().unwrap_or_default())
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Event {
    pub event_id: String,
    /// The API action, e.g. `Encrypt`.
    pub event_name: String,
    /// ISO 8601 UTC.
    pub event_time: String,
    pub event_source: String,
    /// The product, e.g. `Kms`.
    pub service_name: String,
    #[serde(rename = "eventRW")]
    pub event_rw: String,
    pub acs_region: String,
    pub request_id: String,
    pub user_identity: UserIdentity,
    pub error_code: String,
    /// The rest of the event as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_event_log_form() {
        let event: Event = serde_json::from_str(
            r#"{"eventName":"Encrypt","eventRW":"Read","eventTime":"2026-01-01T00:00:00Z","serviceName":"Kms",
                "userIdentity":{"type":"assumed-role","userName":"AliyunCSManagedSecurityRole:kms-plugin"},
                "referencedResources":{"ACS::KMS::Key":["key-1"]}}"#,
        )
        .unwrap();
        assert_eq!(event.event_rw, "Read");
        assert_eq!(
            event.user_identity.role_name(),
            Some("AliyunCSManagedSecurityRole")
        );
        assert!(event.other.contains_key("referencedResources"));
    }
}
