//! The account model's test controls under `/_emulator/account` (read it without secrets, replace
//! parts of it, add or remove users and roles, set the balance) and `/_emulator/actiontrail`
//! (count or clear the recorded events). Every change is validated whole before it applies, and
//! the AccessKeys the signature check accepts follow the users at once.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use serde::Deserialize;
use serde_json::json;

use crate::account::{AccessKey, Account, AccountFile, Balance, Role, User, json_error};
use crate::api_error::ApiError;
use crate::cluster::ClusterGrant;
use crate::server::{control, json_response};
use crate::{Emulator, TRAIL_CAPACITY, lock};

/// The body of `PUT /_emulator/account/users/{name}`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct UserBody {
    access_keys: Vec<AccessKey>,
    policies: Vec<String>,
    cluster_permissions: Vec<ClusterGrant>,
}

/// The body of `PUT /_emulator/account/roles/{name}`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RoleBody {
    description: String,
    policies: Vec<String>,
}

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/_emulator/account", get(show).put(replace))
        .route(
            "/_emulator/account/users/{name}",
            put(put_user).delete(delete_user),
        )
        .route(
            "/_emulator/account/roles/{name}",
            put(put_role).delete(delete_role),
        )
        .route("/_emulator/account/balance", put(put_balance))
        .route(
            "/_emulator/actiontrail",
            get(trail_count).delete(clear_trail),
        )
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(what, json_error(&e)))
}

/// Applies `change` to a copy, validates it, then installs it and its AccessKeys.
pub(crate) fn update(
    emu: &Emulator,
    change: impl FnOnce(&mut Account) -> Result<(), ApiError>,
) -> Result<serde_json::Value, ApiError> {
    let mut account = lock(&emu.account);
    let mut next = account.clone();
    change(&mut next)?;
    next.validate()
        .map_err(|e| ApiError::invalid("account", e))?;
    lock(&emu.auth).set_access_keys(next.access_keys());
    *account = next;
    Ok(account.redacted())
}

async fn show(State(emu): State<Arc<Emulator>>) -> Response {
    json_response(StatusCode::OK, &lock(&emu.account).redacted())
}

/// The fields the body sets replace the current ones (the account id cannot change).
async fn replace(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    control(parse::<AccountFile>("account", &body).and_then(|file| {
        update(&emu, |a| {
            if let Some(id) = file.account_id.filter(|id| *id != a.account_id) {
                return Err(ApiError::invalid(
                    "account_id",
                    format!(
                        "{id} differs from {}: the account id is fixed at start, key ARNs carry it",
                        a.account_id
                    ),
                ));
            }
            if let Some(users) = file.users {
                a.users = users;
            }
            if let Some(roles) = file.roles {
                a.roles = roles;
            }
            if let Some(balance) = file.balance {
                a.balance = balance;
            }
            if let Some(clusters) = file.clusters {
                a.clusters = clusters;
            }
            Ok(())
        })
    }))
}

async fn put_user(
    State(emu): State<Arc<Emulator>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    control(parse::<UserBody>("user", &body).and_then(|b| {
        update(&emu, |a| {
            let user = User {
                name: name.clone(),
                access_keys: b.access_keys,
                policies: b.policies,
                cluster_permissions: b.cluster_permissions,
            };
            match a.users.iter_mut().find(|u| u.name == name) {
                Some(existing) => *existing = user,
                None => a.users.push(user),
            }
            Ok(())
        })
    }))
}

async fn delete_user(State(emu): State<Arc<Emulator>>, Path(name): Path<String>) -> Response {
    control(update(&emu, |a| {
        a.user(&name)?;
        a.users.retain(|u| u.name != name);
        Ok(())
    }))
}

async fn put_role(
    State(emu): State<Arc<Emulator>>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    control(parse::<RoleBody>("role", &body).and_then(|b| {
        update(&emu, |a| {
            let role = Role {
                name: name.clone(),
                description: b.description,
                policies: b.policies,
            };
            match a.roles.iter_mut().find(|r| r.name == name) {
                Some(existing) => *existing = role,
                None => a.roles.push(role),
            }
            Ok(())
        })
    }))
}

/// Removing `AliyunCSManagedSecurityRole` is how a test withdraws the account's authorization.
async fn delete_role(State(emu): State<Arc<Emulator>>, Path(name): Path<String>) -> Response {
    control(update(&emu, |a| {
        a.role(&name)?;
        a.roles.retain(|r| r.name != name);
        Ok(())
    }))
}

async fn put_balance(State(emu): State<Arc<Emulator>>, body: Bytes) -> Response {
    control(parse::<Balance>("balance", &body).and_then(|balance| {
        update(&emu, |a| {
            a.balance = balance;
            Ok(())
        })
    }))
}

async fn trail_count(State(emu): State<Arc<Emulator>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "Count": lock(&emu.trail).len(), "Capacity": TRAIL_CAPACITY }),
    )
}

async fn clear_trail(State(emu): State<Arc<Emulator>>) -> Response {
    let cleared = std::mem::take(&mut *lock(&emu.trail)).len();
    json_response(StatusCode::OK, &json!({ "Cleared": cleared }))
}
