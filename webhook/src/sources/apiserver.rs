//! The apiserver's own view of its KMS provider: `GET /readyz/kms-providers`.
//!
//! 200 `ok`: a provider is configured and healthy. 500: configured and failing, with the reason
//! in the body. 404: no such check, so no KMS provider is configured. Caveat: the apiserver also
//! registers this check for any configuration loaded with automatic reload, even one without a
//! KMS provider, so "configured" really means "an encryption configuration is loaded".

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use kube::Client;
use secretkms_core::state::ApiserverFacts;

use super::StateHub;

/// The apiserver path of the KMS health check.
pub const KMS_HEALTH_PATH: &str = "/readyz/kms-providers";

/// Asks the apiserver once. `Err` means the question could not be answered (unreachable,
/// forbidden, ...), which is different from an answer of "unhealthy".
pub async fn probe(client: &Client) -> Result<ApiserverFacts, String> {
    let req = http::Request::get(KMS_HEALTH_PATH)
        .body(Vec::new())
        .expect("a static request is valid");
    match client.request_text(req).await {
        Ok(body) => Ok(ApiserverFacts {
            kms_configured: true,
            kms_healthy: body.trim() == "ok",
            detail: trim(&body),
        }),
        Err(kube::Error::Api(status)) => match status.code {
            404 => Ok(ApiserverFacts {
                kms_configured: false,
                kms_healthy: false,
                detail:
                    "the apiserver has no kms-providers health check: no KMS provider is configured"
                        .into(),
            }),
            500 => Ok(ApiserverFacts {
                kms_configured: true,
                kms_healthy: false,
                detail: trim(&status.message),
            }),
            401 | 403 => Err(format!(
                "the apiserver refused {KMS_HEALTH_PATH} ({}): grant `get` on the non-resource URL {KMS_HEALTH_PATH} to the webhook's identity",
                status.code
            )),
            code => Err(format!(
                "{KMS_HEALTH_PATH} answered {code}: {}",
                trim(&status.message)
            )),
        },
        Err(e) => Err(format!("{KMS_HEALTH_PATH} could not be read: {e}")),
    }
}

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

fn trim(text: &str) -> String {
    let t = text.trim();
    if t.len() > 512 {
        format!("{}...", &t[..t.floor_char_boundary(512)])
    } else {
        t.to_string()
    }
}
