//! The declared settings: the `SecretEncryption` object named `cluster`, watched through the
//! apiserver. Each change is published to the hub and to the KMS poller, which follows the key
//! the operator names.

use std::sync::Arc;
use std::time::SystemTime;

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use secretkms_core::secret_encryption::{CLUSTER, SecretEncryption, SecretEncryptionSpec};
use secretkms_model::Declared;
use tokio::sync::watch;

use super::StateHub;
use crate::metrics::Metrics;

/// Watches `secretencryptions.secretkms.io/cluster` until the task is dropped. Errors (no CRD,
/// no permission, apiserver down) are published as the source's last error and retried with
/// the watcher's backoff.
pub async fn watch(
    client: Client,
    hub: Arc<StateHub>,
    spec_tx: watch::Sender<Option<SecretEncryptionSpec>>,
    metrics: Arc<Metrics>,
) {
    let api = Api::<SecretEncryption>::all(client);
    let config = watcher::Config::default().fields(&format!("metadata.name={CLUSTER}"));
    let mut stream = watcher::watcher(api, config).default_backoff().boxed();
    let mut seen_in_relist = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(obj) | Event::InitApply(obj)) => {
                seen_in_relist = true;
                publish(&hub, &spec_tx, Some(obj.spec));
            }
            Ok(Event::Delete(_)) => publish(&hub, &spec_tx, None),
            Ok(Event::Init) => seen_in_relist = false,
            Ok(Event::InitDone) => {
                if !seen_in_relist {
                    publish(&hub, &spec_tx, None);
                }
            }
            Err(e) => {
                metrics.source_error("declared");
                let message = describe(&e);
                tracing::warn!(error = %message, "watching SecretEncryption failed");
                hub.update(|o| o.declared.fail(message));
            }
        }
    }
}

fn publish(
    hub: &StateHub,
    spec_tx: &watch::Sender<Option<SecretEncryptionSpec>>,
    spec: Option<SecretEncryptionSpec>,
) {
    let now = SystemTime::now();
    match &spec {
        Some(s) => hub.update(|o| o.declared.succeed(Declared::from(s), now)),
        None => hub.update(|o| o.declared.absent(now)),
    }
    spec_tx.send_if_modified(|current| {
        let changed = *current != spec;
        *current = spec;
        changed
    });
}

fn describe(e: &watcher::Error) -> String {
    let text = e.to_string();
    if text.contains("404") {
        format!(
            "the SecretEncryption CRD (secretencryptions.secretkms.io) is not installed: {text}"
        )
    } else if text.contains("403") {
        format!("not allowed to list/watch secretencryptions.secretkms.io: {text}")
    } else {
        text
    }
}
