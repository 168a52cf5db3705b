//! The apiserver's own view of its encryption, polled: its KMS checks
//! (`secretkms_core::apiserver_health`, shared with `kubectl secretkms status`) and, from its
//! metrics, which provider writes Secrets (`secretkms_core::secret_writers`), made current by
//! the canary write, and which KMS v2 key_id each apiserver uses (for whether a rewrite moves
//! Secrets after a rotation, `secretkms_core::rotation_reach`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::Client;
use secretkms_core::secret_writers::{self, WriterTracker};
use secretkms_model::ApiserverFacts;

use super::StateHub;
use super::canary::{self, Canary};

pub use secretkms_core::apiserver_health::probe;

/// What the poller asks besides the KMS checks.
#[derive(Debug, Clone, Default)]
pub struct WriterSettings {
    /// Read `/metrics` for the provider that writes Secrets.
    pub enabled: bool,
    /// Written before each reading; without it only other writers' Secret writes tell.
    pub canary: Option<Canary>,
}

/// Probes every `interval`, backing off (up to 4× the interval) while the apiserver cannot be
/// reached, and publishes each result.
pub async fn watch(
    client: Client,
    interval: Duration,
    writers: WriterSettings,
    hub: Arc<StateHub>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let mut delay = interval;
    let mut tracker = WriterTracker::default();
    loop {
        match round(&client, &writers, &mut tracker).await {
            Ok(facts) => {
                hub.update(|o| o.apiserver.succeed(facts, SystemTime::now()));
                delay = interval;
            }
            Err(e) => {
                metrics.source_error(crate::metrics::Source::Apiserver);
                tracing::warn!(error = %e, "apiserver encryption probe failed");
                hub.update(|o| o.apiserver.fail(e));
                delay = (delay * 2).min(interval * 4);
            }
        }
        tokio::time::sleep(delay).await;
    }
}

/// One round: the KMS checks, then (if enabled) the canary write and a metrics reading.
async fn round(
    client: &Client,
    writers: &WriterSettings,
    tracker: &mut WriterTracker,
) -> Result<ApiserverFacts, String> {
    let mut facts = probe(client).await?;
    if writers.enabled {
        if let Some(canary) = &writers.canary {
            let stamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis().to_string())
                .unwrap_or_default();
            canary::write(canary, client, &stamp).await?;
        }
        tracker.observe(secret_writers::read(client).await?);
        facts.secret_writers = tracker.writers();
        facts.key_ids = tracker.key_ids();
    }
    Ok(facts)
}
