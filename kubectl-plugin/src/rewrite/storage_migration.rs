//! `rewrite --via storage-version-migration`: the stale-only rewrite handed to Kubernetes' own
//! engine, a `StorageVersionMigration` of `secrets` (storagemigration.k8s.io/v1beta1) that the
//! kube-controller-manager's StorageVersionMigrator controller carries out.
//!
//! The controller sends each Secret a server-side-apply no-op carrying its uid and
//! resourceVersion (k8s.io/kubernetes `pkg/controller/storageversionmigrator`), so the
//! apiserver writes only what its storage reads as stale — the same rule as `--mode
//! stale-only`: under KMS v1, or KMS v2 whose key_id did not change, it writes nothing. The
//! rotation-truth checks before the sweep therefore apply unchanged.
//!
//! Absent pieces are told apart: the API not served (the `StorageVersionMigrator` feature gate
//! and `--runtime-config` on the apiserver), and the API served but no controller answering
//! (the gate, the garbage collector and the client-go gates `InformerResourceVersion` and
//! `InOrderInformers` on the kube-controller-manager): no status within `controller_timeout`.

use std::time::{Duration, Instant};

use kube::api::{ApiResource, DeleteParams, DynamicObject, PostParams};
use kube::{Api, Client};
use serde::Serialize;
use serde_json::json;

pub const GROUP: &str = "storagemigration.k8s.io";
pub const VERSION: &str = "v1beta1";
const KIND: &str = "StorageVersionMigration";
const PLURAL: &str = "storageversionmigrations";

/// Why a migration did not finish.
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the apiserver does not serve {GROUP}/{VERSION}: enable the StorageVersionMigrator feature gate and --runtime-config={GROUP}/{VERSION}=true on every apiserver, or rewrite without --via"
    )]
    ApiAbsent,
    #[error(
        "StorageVersionMigration {name} got no status in {waited:?}: no StorageVersionMigrator controller is running (kube-controller-manager needs --feature-gates=StorageVersionMigrator=true,InformerResourceVersion=true,InOrderInformers=true and the garbage collector); the migration was deleted"
    )]
    ControllerAbsent { name: String, waited: Duration },
    #[error("StorageVersionMigration {name} failed: {message}")]
    Failed { name: String, message: String },
    #[error("talking to the apiserver about StorageVersionMigrations")]
    Api(#[source] kube::Error),
}

/// One of the migration's conditions, as the controller wrote it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// What the report says about the migration.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    pub name: String,
    /// The Secrets' list resourceVersion the controller migrated up to.
    pub resource_version: String,
    pub conditions: Vec<Condition>,
}

fn resource() -> ApiResource {
    ApiResource {
        group: GROUP.into(),
        version: VERSION.into(),
        api_version: format!("{GROUP}/{VERSION}"),
        kind: KIND.into(),
        plural: PLURAL.into(),
    }
}

/// Whether the apiserver serves the migration API.
pub async fn served(client: &Client) -> Result<bool, MigrationError> {
    match client
        .list_api_group_resources(&format!("{GROUP}/{VERSION}"))
        .await
    {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == PLURAL)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(MigrationError::Api(e)),
    }
}

/// The parts of a migration's status the rewrite follows.
#[derive(Debug, Default, PartialEq)]
struct Observed {
    resource_version: String,
    conditions: Vec<Condition>,
}

impl Observed {
    fn of(object: &DynamicObject) -> Self {
        let status = &object.data["status"];
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        Self {
            resource_version: text(&status["resourceVersion"]),
            conditions: status["conditions"]
                .as_array()
                .map(|all| {
                    all.iter()
                        .map(|c| Condition {
                            type_: text(&c["type"]),
                            status: text(&c["status"]),
                            reason: text(&c["reason"]),
                            message: text(&c["message"]),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    fn is_true(&self, type_: &str) -> Option<&Condition> {
        self.conditions
            .iter()
            .find(|c| c.type_ == type_ && c.status == "True")
    }

    /// Whether any controller has touched the migration.
    fn answered(&self) -> bool {
        !self.resource_version.is_empty() || !self.conditions.is_empty()
    }

    fn summary(&self) -> String {
        let true_ones: Vec<&str> = self
            .conditions
            .iter()
            .filter(|c| c.status == "True")
            .map(|c| c.type_.as_str())
            .collect();
        if true_ones.is_empty() {
            "waiting for the controller".into()
        } else {
            true_ones.join(", ")
        }
    }
}

/// Creates a migration of `secrets` and follows it until it succeeds or fails, printing each
/// change of state with `say`. `poll` is how often it reads the migration.
pub async fn migrate(
    client: &Client,
    controller_timeout: Duration,
    poll: Duration,
    say: impl Fn(&str),
) -> Result<MigrationReport, MigrationError> {
    let ar = resource();
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
    let mut object = DynamicObject::new("", &ar).data(json!({
        "spec": {"resource": {"group": "", "resource": "secrets"}}
    }));
    object.metadata.name = None;
    object.metadata.generate_name = Some("secretkms-rewrite-".into());
    let created = api
        .create(&PostParams::default(), &object)
        .await
        .map_err(MigrationError::Api)?;
    let name = created.metadata.name.clone().unwrap_or_default();
    say(&format!("created StorageVersionMigration {name}"));
    let started = Instant::now();
    let mut last = String::new();
    loop {
        let observed = Observed::of(&api.get(&name).await.map_err(MigrationError::Api)?);
        let summary = observed.summary();
        if summary != last {
            say(&format!(
                "migration {name}: {summary} after {:.1}s",
                started.elapsed().as_secs_f64()
            ));
            last = summary;
        }
        if let Some(failed) = observed.is_true("Failed") {
            return Err(MigrationError::Failed {
                name,
                message: format!("{}: {}", failed.reason, failed.message),
            });
        }
        if observed.is_true("Succeeded").is_some() {
            return Ok(MigrationReport {
                name,
                resource_version: observed.resource_version,
                conditions: observed.conditions,
            });
        }
        if !observed.answered() && started.elapsed() >= controller_timeout {
            // Left behind, it would run whenever a controller appears, unannounced.
            let _ = api.delete(&name, &DeleteParams::default()).await;
            return Err(MigrationError::ControllerAbsent {
                name,
                waited: controller_timeout,
            });
        }
        tokio::time::sleep(poll).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(status: serde_json::Value) -> DynamicObject {
        DynamicObject::new("m", &resource()).data(json!({"status": status}))
    }

    #[test]
    fn a_fresh_migration_has_not_been_answered() {
        let o = Observed::of(&object(json!(null)));
        assert_eq!(o, Observed::default());
        assert!(!o.answered());
        assert_eq!(o.summary(), "waiting for the controller");
    }

    #[test]
    fn conditions_are_read_as_the_controller_writes_them() {
        let o = Observed::of(&object(json!({
            "resourceVersion": "1234",
            "conditions": [
                {"type": "Running", "status": "False", "reason": "MigrationCompleted", "message": ""},
                {"type": "Succeeded", "status": "True", "reason": "MigrationSucceeded", "message": "done"}
            ]
        })));
        assert!(o.answered());
        assert_eq!(o.resource_version, "1234");
        assert!(o.is_true("Running").is_none());
        assert_eq!(o.is_true("Succeeded").unwrap().message, "done");
        assert_eq!(o.summary(), "Succeeded");
    }

    #[test]
    fn the_errors_say_what_to_turn_on() {
        let absent = MigrationError::ApiAbsent.to_string();
        assert!(
            absent.contains("StorageVersionMigrator feature gate"),
            "{absent}"
        );
        assert!(absent.contains("--runtime-config=storagemigration.k8s.io/v1beta1=true"));
        let no_controller = MigrationError::ControllerAbsent {
            name: "secretkms-rewrite-x".into(),
            waited: Duration::from_secs(30),
        }
        .to_string();
        assert!(
            no_controller.contains("InOrderInformers"),
            "{no_controller}"
        );
        assert!(no_controller.contains("garbage collector"));
    }
}
