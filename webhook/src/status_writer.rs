//! Writes what the monitor sees back to the `SecretEncryption` object's status, and records a
//! Kubernetes Event on every condition transition, so `kubectl get secretencryption` and
//! `kubectl describe` tell operators what the webhook knows without reading its logs.
//!
//! Every replica writes: the status is derived from the same sources, so the writes agree, and
//! a merge patch of identical conditions changes nothing but `observedTime`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource as _};
use secretkms_core::secret_encryption::{
    CLUSTER, SecretEncryption, SecretEncryptionStatus, rfc3339,
};

use crate::sources::StateHub;

/// Refreshes the status every `interval` until the task is dropped.
pub async fn run(client: Client, hub: Arc<StateHub>, interval: Duration, instance: String) {
    let api = Api::<SecretEncryption>::all(client.clone());
    let recorder = Recorder::new(
        client,
        Reporter {
            controller: "secretkms-webhook".into(),
            instance: Some(instance),
        },
    );
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = write_once(&api, &recorder, &hub).await {
            tracing::warn!(error = %e, "updating SecretEncryption status failed");
        }
    }
}

async fn write_once(
    api: &Api<SecretEncryption>,
    recorder: &Recorder,
    hub: &StateHub,
) -> Result<(), kube::Error> {
    let Some(object) = api.get_opt(CLUSTER).await? else {
        return Ok(());
    };
    let state = hub.snapshot().state_at(SystemTime::now());
    let previous = object.status.as_ref();
    let mut status =
        SecretEncryptionStatus::from_state(&state, previous, &rfc3339(SystemTime::now()));
    status.observed_generation = object.metadata.generation;
    let patch = serde_json::json!({ "status": status });
    api.patch_status(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let reference = object.object_ref(&());
    for condition in status.transitions(previous) {
        let healthy = condition.status == "True";
        let event = Event {
            type_: if healthy || condition.type_ == "RewriteComplete" {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: format!("{}{}", condition.type_, condition.status),
            note: Some(condition.message.chars().take(1000).collect()),
            action: "Observe".into(),
            secondary: None,
        };
        if let Err(e) = recorder.publish(&event, &reference).await {
            tracing::warn!(error = %e, "recording an event failed");
        }
        tracing::info!(condition = %condition.type_, status = %condition.status, reason = %condition.reason, message = %condition.message, "condition changed");
    }
    Ok(())
}
