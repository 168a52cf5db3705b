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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Canary {
    pub namespace: String,
    pub name: String,
}

impl std::str::FromStr for Canary {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once('/') {
            Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
                Ok(Self {
                    namespace: ns.into(),
                    name: name.into(),
                })
            }
            _ => Err(format!("expected <namespace>/<name>, got {s:?}")),
        }
    }
}

impl Canary {
    /// Writes the canary once (a merge patch of its annotation to `stamp`).
    pub async fn write(&self, client: &Client, stamp: &str) -> Result<(), String> {
        let api = Api::<Secret>::namespaced(client.clone(), &self.namespace);
        let patch = serde_json::json!({ "metadata": { "annotations": { ANNOTATION: stamp } } });
        api.patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map(|_| ())
            .map_err(|e| match e {
                kube::Error::Api(s) if s.code == 404 => format!(
                    "the canary Secret {}/{} does not exist: create it (the chart does) or \
                     unset --canary-secret",
                    self.namespace, self.name
                ),
                kube::Error::Api(s) if s.code == 403 => format!(
                    "not allowed to patch the canary Secret {}/{}: grant get and patch on it",
                    self.namespace, self.name
                ),
                other => format!(
                    "writing the canary Secret {}/{}: {other}",
                    self.namespace, self.name
                ),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_canary_is_named_by_namespace_and_name() {
        let c: Canary = "secretkms/secretkms-canary".parse().unwrap();
        assert_eq!(c.namespace, "secretkms");
        assert_eq!(c.name, "secretkms-canary");
        for bad in ["canary", "/x", "ns/", "a/b/c"] {
            assert!(bad.parse::<Canary>().is_err(), "{bad}");
        }
    }
}
