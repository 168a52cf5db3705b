//! The canary: one Secret in the webhook's own namespace whose annotation the monitor bumps
//! before each reading of the apiserver's metrics, so that a Secret write shows which provider
//! writes Secrets now even on a cluster where nobody else writes one
//! ([`secretkms_core::secret_writers`]). The chart creates it empty (no data) and lets the
//! webhook get and patch only that name; the webhook's own namespace is exempt from its guard,
//! so the write is never judged by itself.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

/// The annotation bumped on every round.
pub const ANNOTATION: &str = "secretkms.io/canary-written";

/// Where the canary lives: `namespace/name`.
pub use secretkms_core::secret_writers::CanarySecret as Canary;

/// Writes the canary once (a merge patch of its annotation to `stamp`).
pub async fn write(canary: &Canary, client: &Client, stamp: &str) -> Result<(), String> {
    let api = Api::<Secret>::namespaced(client.clone(), &canary.namespace);
    let patch = serde_json::json!({ "metadata": { "annotations": { ANNOTATION: stamp } } });
    api.patch(&canary.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => format!(
                "the canary Secret {canary} does not exist: create it (the chart does) or unset \
                 --canary-secret"
            ),
            kube::Error::Api(s) if s.code == 403 => {
                format!(
                    "not allowed to patch the canary Secret {canary}: grant get and patch on it"
                )
            }
            other => format!("writing the canary Secret {canary}: {other}"),
        })
}
