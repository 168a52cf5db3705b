//! The key's live facts from Alibaba Cloud KMS: `DescribeKey` on an interval for the key the
//! SecretEncryption names — never per admission: DescribeKey is limited to about 20 requests/s
//! per account, shared with every other user of that account.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwapOption;
use secretkms_alibaba::credentials::CredentialsProvider;
use secretkms_alibaba::kms::{Endpoint, EndpointError, KeyLocation, KmsClient, KmsConfig};
use secretkms_core::kms_facts;
use secretkms_core::secret_encryption::{Provider, SecretEncryptionSpec};
use tokio::sync::watch;

use super::StateHub;
use crate::metrics::Metrics;

/// How the poller reaches KMS.
#[derive(Debug, Clone)]
pub struct KmsSettings {
    /// Overrides the spec's endpoint and region (e.g. the local emulator).
    pub endpoint: Option<Endpoint>,
    /// Use `kms-vpc.<region>` (inside Alibaba Cloud) rather than the public endpoint.
    pub vpc: bool,
    pub interval: Duration,
    pub credentials: Arc<dyn CredentialsProvider>,
}

/// The client for the current spec, shared with the key lookup the key-change policy uses.
pub type SharedClient = Arc<ArcSwapOption<KmsClient>>;

/// The endpoint a spec implies: the override, the spec's own, or the region's.
pub fn endpoint_for(
    spec: &SecretEncryptionSpec,
    settings: &KmsSettings,
) -> Result<Endpoint, String> {
    secretkms_alibaba::kms::resolve(&KeyLocation {
        key: &spec.key,
        endpoint: settings.endpoint.as_ref(),
        declared_endpoint: spec.endpoint.as_deref(),
        region: spec.region.as_deref(),
        vpc: settings.vpc,
    })
    .map_err(|e| match e {
        EndpointError::NoRegion { .. } => {
            format!("{e}: set spec.region (or spec.endpoint) in the SecretEncryption")
        }
        EndpointError::RegionConflict { .. } => format!("spec.{e}"),
        EndpointError::Invalid(detail) => detail,
    })
}

/// Polls the declared key until the task is dropped: every `interval` while healthy, backing
/// off to 4× while failing, and at once when the spec changes.
pub async fn watch(
    mut spec_rx: watch::Receiver<Option<SecretEncryptionSpec>>,
    settings: KmsSettings,
    client: SharedClient,
    hub: Arc<StateHub>,
    metrics: Arc<Metrics>,
) {
    let mut current: Option<(Endpoint, Arc<KmsClient>)> = None;
    let mut delay = settings.interval;
    loop {
        let spec = spec_rx.borrow_and_update().clone();
        match spec {
            Some(spec) if spec.provider == Provider::AlibabaKms => {
                match poll(&spec, &settings, &mut current).await {
                    Ok(facts) => {
                        client.store(current.as_ref().map(|(_, c)| c.clone()));
                        hub.update(|o| o.key.succeed(facts, SystemTime::now()));
                        delay = settings.interval;
                    }
                    Err(e) => {
                        client.store(current.as_ref().map(|(_, c)| c.clone()));
                        metrics.source_error(crate::metrics::Source::Kms);
                        tracing::warn!(key = %spec.key, error = %e, "describing the KMS key failed");
                        hub.update(|o| o.key.fail(e));
                        delay = (delay * 2).min(settings.interval * 4);
                    }
                }
            }
            // No SecretEncryption, or one that does not use Alibaba Cloud KMS: nothing to ask.
            _ => {
                hub.update(|o| o.key = Default::default());
                delay = settings.interval;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            changed = spec_rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

async fn poll(
    spec: &SecretEncryptionSpec,
    settings: &KmsSettings,
    current: &mut Option<(Endpoint, Arc<KmsClient>)>,
) -> Result<secretkms_model::KeyFacts, String> {
    let endpoint = endpoint_for(spec, settings)?;
    let client = match current {
        Some((e, c)) if *e == endpoint => c.clone(),
        _ => {
            let c = Arc::new(
                KmsClient::new(
                    KmsConfig::new(endpoint.clone()),
                    settings.credentials.clone(),
                )
                .map_err(|e| e.to_string())?,
            );
            *current = Some((endpoint, c.clone()));
            c
        }
    };
    kms_facts::describe(&client, &spec.key)
        .await
        .map_err(|e| e.to_string())
}
