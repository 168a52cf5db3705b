//! UpdateKMSEncryption: who may call it, when, with which key — then the cluster goes
//! `updating` and its agent applies the change.
//!
//! The checks, in ACK's documented terms: the caller holds the cluster's RBAC admin or O&M role,
//! else 403 `ForbiddenUpdateKMSState`; a call within the cool-down (about five minutes) or while
//! the cluster is `updating` gets HTTP 409; the key is `Aliyun_AES_256`, `ENCRYPT/DECRYPT`,
//! `Enabled` and not a service key. UNCONFIRMED, so chosen here: the 409's code
//! (`OperationConflict`), the key refusal's code (`InvalidParameter.KmsKeyId`, 400, with ACK's
//! constraint text as message), the refusal when the account has not authorized
//! `AliyunCSManagedSecurityRole` (`Forbidden.RAM.RoleNotAuthorized`, 403) and when disabling a
//! cluster that is not encrypted (`InvalidParameter.DisableEncryption`, 400). A service key is
//! one reached through an `alias/acs/...` alias, the names cloud services give their default keys.

use std::sync::Arc;

use serde::Deserialize;

use super::agent::{self, EncryptionChange, RoleCredentials};
use crate::account::{Account, CS_SECURITY_ROLE, Caller};
use crate::api_error::ApiError;
use crate::store::{Store, now};
use crate::{Emulator, lock};

/// How long the STS credentials of `AliyunCSManagedSecurityRole` handed to the agent last.
const ROLE_CREDENTIALS_SECONDS: u64 = 43_200;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    disable_encryption: Option<bool>,
}

fn invalid_key(key: &str, why: &str) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameter.KmsKeyId",
        format!(
            "kms key {key} cannot encrypt Secrets: {why}; you cannot use a service key, the key type must be Aliyun_AES_256 and the key usage ENCRYPT/DECRYPT"
        ),
    )
}

/// The caller's grants allow the update: a user with the admin or O&M role on the cluster.
/// Assumed roles hold no cluster grants in this model.
fn check_caller(account: &Account, caller: &Caller, cluster_id: &str) -> Result<(), ApiError> {
    let allowed = match caller {
        Caller::User { name, .. } => account.user(name).is_ok_and(|u| {
            u.cluster_permissions
                .iter()
                .any(|g| g.allows_kms_update(cluster_id))
        }),
        Caller::AssumedRole { .. } => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            403,
            "ForbiddenUpdateKMSState",
            format!(
                "the caller has neither the admin nor the o&m role of cluster {cluster_id}, which changing its secret encryption requires"
            ),
        ))
    }
}

/// The key's id when ACK would accept it for Secret encryption.
fn check_key(store: &Store, key: &str) -> Result<String, ApiError> {
    let id = store
        .resolve(key)
        .map_err(|e| invalid_key(key, &e.message))?;
    let stored = &store.keys[&id];
    if store
        .aliases
        .iter()
        .any(|(alias, k)| *k == id && alias.starts_with("alias/acs/"))
    {
        return Err(invalid_key(key, "it is a service key"));
    }
    if stored.key_spec != "Aliyun_AES_256" {
        return Err(invalid_key(
            key,
            &format!("its key spec is {}", stored.key_spec),
        ));
    }
    if stored.key_usage != "ENCRYPT/DECRYPT" {
        return Err(invalid_key(
            key,
            &format!("its key usage is {}", stored.key_usage),
        ));
    }
    if stored.key_state != "Enabled" {
        return Err(invalid_key(
            key,
            &format!("its state is {}", stored.key_state),
        ));
    }
    Ok(id)
}

pub fn update(
    emu: &Arc<Emulator>,
    caller: &Caller,
    cluster_id: &str,
    body: &[u8],
) -> Result<(), ApiError> {
    let body: Body = serde_json::from_slice(body)
        .map_err(|e| ApiError::invalid("body", crate::account::json_error(&e)))?;
    let disable = body.disable_encryption.unwrap_or(false);
    let at = now();
    // Lock order: account, then store, then auth.
    let mut account = lock(&emu.account);
    let cluster = account.cluster(cluster_id)?;
    check_caller(&account, caller, cluster_id)?;
    if cluster.state == "updating" {
        return Err(ApiError::new(
            409,
            "OperationConflict",
            format!("cluster {cluster_id} is updating; retry when it is running"),
        ));
    }
    if let Some(left) = cluster.cool_down_left(at) {
        return Err(ApiError::new(
            409,
            "OperationConflict",
            format!(
                "the secret encryption of cluster {cluster_id} changed moments ago; retry in {left}s"
            ),
        ));
    }
    if account.role(CS_SECURITY_ROLE).is_err() {
        return Err(ApiError::new(
            403,
            "Forbidden.RAM.RoleNotAuthorized",
            format!(
                "the account has not authorized ACK to use the role {CS_SECURITY_ROLE}, which encrypts secrets with kms"
            ),
        ));
    }
    let key_id = if disable {
        cluster.kms_key_id.clone().ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidParameter.DisableEncryption",
                format!("cluster {cluster_id} does not encrypt secrets with kms"),
            )
        })?
    } else {
        let key = body
            .kms_key_id
            .as_deref()
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| ApiError::missing("kms_key_id"))?;
        check_key(&lock(&emu.store), key)?
    };
    let region_id = cluster
        .region_id
        .clone()
        .unwrap_or_else(|| emu.region.clone());
    let agent_url = cluster.agent_url.clone();
    let (access_key_id, credential) = lock(&emu.auth).issue_sts(
        ROLE_CREDENTIALS_SECONDS,
        CS_SECURITY_ROLE,
        &format!("ack-{cluster_id}"),
    );
    account.cluster_mut(cluster_id)?.begin_update(at);
    drop(account);
    tracing::info!(cluster = cluster_id, enabled = !disable, "cluster updating");
    agent::spawn(
        emu.clone(),
        agent_url,
        EncryptionChange {
            cluster_id: cluster_id.to_string(),
            region_id,
            enabled: !disable,
            kms_key_id: key_id,
            credentials: RoleCredentials::new(access_key_id, &credential),
        },
    );
    Ok(())
}
