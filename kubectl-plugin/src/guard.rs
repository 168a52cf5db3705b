//! The `SecretEncryption` named `cluster`, switched by `enable` and `disable` so the webhook's
//! guard follows the cluster: after enable it declares the key and enforces; before disable it
//! goes to audit with `secretkms.io/force: "true"` (audit weakens the guard, which the webhook
//! accepts only with force), so the guard does not deny every Secret write while the cluster
//! stops writing through KMS.

use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};
use secretkms_core::secret_encryption::{
    CLUSTER, Enforcement, Provider, SecretEncryption, SecretEncryptionSpec,
};

use crate::causes::once;
use crate::checklist::Check;

/// The annotation that lets a change weaken the guard.
pub const FORCE_ANNOTATION: &str = "secretkms.io/force";

const NAME: &str = "guard";

/// What the SecretEncryption should declare after enable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declare {
    pub key: String,
    pub region: String,
    pub endpoint: Option<String>,
}

fn crd_missing(e: &kube::Error) -> bool {
    // `get_opt` turns a missing object into `None`; a 404 left is the resource type itself.
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

const INSTALL: &str = "install secretkms (helm install secretkms charts/secretkms -n secretkms --create-namespace) so the webhook guards Secret writes";

/// Creates `cluster`, or updates its key, region and enforcement to enforce; a force annotation
/// left by a disable is removed when nothing else in the spec needs it.
pub async fn enforce(client: &Client, declare: &Declare) -> Check {
    let api: Api<SecretEncryption> = Api::all(client.clone());
    match api.get_opt(CLUSTER).await {
        Ok(Some(existing)) => {
            let spec = &existing.spec;
            let force_needed = !spec.exempt_namespaces.is_empty()
                || spec.provider != Provider::AlibabaKms
                || spec.max_state_age_seconds > secretkms_model::defaults::MAX_STATE_AGE_SECONDS;
            let mut patch = serde_json::json!({
                "spec": {
                    "key": declare.key,
                    "region": declare.region,
                    "enforcement": "enforce",
                }
            });
            if let Some(endpoint) = &declare.endpoint {
                patch["spec"]["endpoint"] = endpoint.clone().into();
            }
            if !force_needed {
                patch["metadata"] = serde_json::json!({"annotations": {FORCE_ANNOTATION: null}});
            }
            match api
                .patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Check::pass(
                    NAME,
                    format!(
                        "SecretEncryption/cluster updated: key {}, enforce{}",
                        declare.key,
                        if spec.enforcement == Enforcement::Audit {
                            " (was audit)"
                        } else {
                            ""
                        }
                    ),
                ),
                Err(e) => Check::fail(
                    NAME,
                    format!("cannot update SecretEncryption/cluster: {}", once(&e)),
                )
                .fix("grant patch on secretencryptions.secretkms.io"),
            }
        }
        Ok(None) => {
            let se = SecretEncryption::new(
                CLUSTER,
                SecretEncryptionSpec {
                    provider: Provider::AlibabaKms,
                    key: declare.key.clone(),
                    region: Some(declare.region.clone()),
                    endpoint: declare.endpoint.clone(),
                    required_key_spec: secretkms_model::defaults::KEY_SPEC.into(),
                    enforcement: Enforcement::Enforce,
                    exempt_namespaces: Vec::new(),
                    max_state_age_seconds: secretkms_model::defaults::MAX_STATE_AGE_SECONDS,
                },
            );
            match api.create(&PostParams::default(), &se).await {
                Ok(_) => Check::pass(
                    NAME,
                    format!(
                        "SecretEncryption/cluster created: key {}, enforce",
                        declare.key
                    ),
                ),
                Err(e) => Check::fail(
                    NAME,
                    format!("cannot create SecretEncryption/cluster: {}", once(&e)),
                )
                .fix("grant create on secretencryptions.secretkms.io"),
            }
        }
        Err(e) if crd_missing(&e) => Check::warn(
            NAME,
            "the SecretEncryption CRD is not installed: nothing guards Secret writes",
        )
        .fix(INSTALL),
        Err(e) => Check::unchecked(NAME, once(&e)),
    }
}

/// Switches `cluster` to audit with force, before encryption is turned off. `Err`: it could not
/// be switched, and the change must not go ahead.
pub async fn audit(client: &Client) -> Result<Check, Check> {
    let api: Api<SecretEncryption> = Api::all(client.clone());
    match api.get_opt(CLUSTER).await {
        Ok(Some(_)) => {
            let patch = serde_json::json!({
                "metadata": {"annotations": {FORCE_ANNOTATION: "true"}},
                "spec": {"enforcement": "audit"},
            });
            api.patch(CLUSTER, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| {
                    Check::pass(
                        NAME,
                        "SecretEncryption/cluster switched to audit (secretkms.io/force: \"true\"): the guard warns instead of denying",
                    )
                })
                .map_err(|e| {
                    Check::fail(NAME, format!("cannot switch SecretEncryption/cluster to audit: {}", once(&e)))
                        .fix("grant patch on secretencryptions.secretkms.io; otherwise the guard denies every Secret write once KMS is off")
                })
        }
        Ok(None) => Ok(Check::info(
            NAME,
            "no SecretEncryption/cluster: nothing guards Secret writes",
        )),
        Err(e) if crd_missing(&e) => Ok(Check::info(
            NAME,
            "the SecretEncryption CRD is not installed: nothing guards Secret writes",
        )),
        Err(e) => Err(Check::fail(
            NAME,
            format!("cannot read SecretEncryption/cluster: {}", once(&e)),
        )),
    }
}
