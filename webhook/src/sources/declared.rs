//! The declared settings: the `SecretEncryption` object named `cluster`, watched through the
//! apiserver. Each change is published to the hub and to the KMS poller, which follows the key
//! the operator names.

use std::sync::Arc;
use std::time::SystemTime;

use futures::StreamExt as _;
use kube::runtime::WatchStreamExt as _;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use secretkms_core::secret_encryption::{
    CLUSTER, Provider, SecretEncryption, SecretEncryptionSpec,
};
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
                metrics.source_error(crate::metrics::Source::Declared);
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
        Some(s) => hub.update(|o| {
            let key_changed = o.declared.value.as_ref().map(|d| d.key.as_str()) != Some(&s.key);
            o.declared.succeed(Declared::from(s), now);
            // In the same update as the declaration: no evaluation may see the new key declared
            // beside the old key's facts, nor beside no KMS source at all before the poller
            // first asks. The key source reads as "not observed yet" until it does.
            if key_changed && s.provider == Provider::AlibabaKms {
                o.key.forget();
            }
        }),
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

#[cfg(test)]
mod tests {
    use super::*;
    use secretkms_model::{KeyFacts, KeyState};

    fn spec(key: &str) -> SecretEncryptionSpec {
        serde_json::from_value(serde_json::json!({ "key": key })).unwrap()
    }

    fn kms_source(hub: &StateHub) -> Option<secretkms_model::SourceStatus> {
        let state = hub.snapshot().state_at(SystemTime::now());
        state.sources.into_iter().find(|s| s.name == "kms")
    }

    #[test]
    fn a_new_key_is_never_judged_on_the_old_keys_facts() {
        let hub = StateHub::default();
        let (tx, _rx) = watch::channel(None);
        publish(&hub, &tx, Some(spec("key-a")));
        assert_eq!(
            kms_source(&hub).map(|s| s.age_seconds),
            Some(None),
            "the first declaration expects the KMS source before the poller first asks"
        );
        hub.update(|o| {
            o.key.succeed(
                KeyFacts {
                    key_id: "key-a".into(),
                    state: KeyState::Enabled,
                    ..Default::default()
                },
                SystemTime::now(),
            )
        });

        publish(&hub, &tx, Some(spec("key-a")));
        assert!(
            hub.snapshot().key.value.is_some(),
            "the same key keeps its facts"
        );

        publish(&hub, &tx, Some(spec("key-b")));
        let obs = hub.snapshot();
        assert!(
            obs.key.value.is_none(),
            "key-a's facts do not stand in for key-b"
        );
        assert_eq!(kms_source(&hub).map(|s| s.age_seconds), Some(None));
        assert_eq!(
            tx.borrow().as_ref().map(|s| s.key.clone()),
            Some("key-b".into())
        );
    }
}
