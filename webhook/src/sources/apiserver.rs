//! The apiserver's own view of its KMS provider, polled: the probe itself lives in
//! `secretkms_core::apiserver_health`, shared with `kubectl secretkms status`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::Client;

use super::StateHub;

pub use secretkms_core::apiserver_health::probe;

/// Probes every `interval`, backing off (up to 4× the interval) while the apiserver cannot be
/// reached, and publishes each result.
pub async fn watch(
    client: Client,
    interval: Duration,
    hub: Arc<StateHub>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    let mut delay = interval;
    loop {
        match probe(&client).await {
            Ok(facts) => {
                hub.update(|o| o.apiserver.succeed(facts, SystemTime::now()));
                delay = interval;
            }
            Err(e) => {
                metrics.source_error("apiserver");
                tracing::warn!(error = %e, "apiserver KMS health probe failed");
                hub.update(|o| o.apiserver.fail(e));
                delay = (delay * 2).min(interval * 4);
            }
        }
        tokio::time::sleep(delay).await;
    }
}
