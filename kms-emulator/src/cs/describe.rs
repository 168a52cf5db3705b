//! DescribeClusterDetail and DescribeUserPermission answers, from the account model.
//!
//! Where ACK reports the Secret-encryption key is UNCONFIRMED; the emulator puts it in
//! `meta_data`'s `EncryptionProviderKey` (empty when off), where the project's client reads it.
//! Which answer ACK gives for a uid it has no grants for is UNCONFIRMED too; the emulator answers
//! an empty list, as for a user without grants.

use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::{Emulator, lock};

pub fn cluster_detail(emu: &Emulator, cluster_id: &str) -> Result<Value, ApiError> {
    let account = lock(&emu.account);
    let cluster = account.cluster(cluster_id)?;
    let version = cluster.current_version.clone();
    let meta_data = json!({
        "KubernetesVersion": version.split('-').next().unwrap_or_default(),
        "EncryptionProviderKey": cluster.kms_key_id.clone().unwrap_or_default(),
    });
    let created = cluster
        .created
        .clone()
        .unwrap_or_else(|| crate::store::date(emu.account_since));
    Ok(json!({
        "cluster_id": cluster.cluster_id,
        "name": if cluster.name.is_empty() { &cluster.cluster_id } else { &cluster.name },
        "region_id": cluster.region_id.as_deref().unwrap_or(&emu.region),
        "state": cluster.state,
        "cluster_type": cluster.cluster_type,
        "profile": cluster.profile,
        "cluster_spec": cluster.cluster_spec,
        "current_version": version,
        "init_version": version,
        "next_version": "",
        "meta_data": meta_data.to_string(),
        "parameters": {},
        "created": created,
        "updated": cluster.last_kms_update.clone().unwrap_or_else(|| created.clone()),
        "size": 1,
        "network_mode": "vpc",
        "deletion_protection": false,
        "resource_group_id": "",
        "vpc_id": "",
        "tags": [],
    }))
}

pub fn user_permission(emu: &Emulator, uid: &str) -> Value {
    let account = lock(&emu.account);
    let grants = account
        .user_by_uid(uid)
        .map(|u| u.cluster_permissions.as_slice())
        .unwrap_or_default();
    Value::Array(
        grants
            .iter()
            .map(|g| {
                json!({
                    "resource_id": g.resource_id,
                    "resource_type": g.resource_type(),
                    "role_name": g.role_name,
                    "role_type": g.role_type,
                    "is_owner": i32::from(g.is_owner),
                    "is_ram_role": 0,
                })
            })
            .collect(),
    )
}
