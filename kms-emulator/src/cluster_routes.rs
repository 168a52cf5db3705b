//! The clusters' test controls under `/_emulator/clusters`: list them, add or replace one (its
//! agent URL, version, cool-down, even its state), remove one, and end a cool-down early so a
//! test can disable right after it enabled. Changes go through the account model's validation.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{delete, get, put};
use serde_json::json;

use crate::account::json_error;
use crate::account_routes::update;
use crate::api_error::ApiError;
use crate::cluster::Cluster;
use crate::server::{control, json_response};
use crate::{Emulator, lock};

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/_emulator/clusters", get(list))
        .route(
            "/_emulator/clusters/{id}",
            put(put_cluster).delete(delete_cluster),
        )
        .route("/_emulator/clusters/{id}/cool-down", delete(end_cool_down))
}

async fn list(State(emu): State<Arc<Emulator>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "Clusters": lock(&emu.account).clusters }),
    )
}

/// The body is a cluster without (or with the same) `cluster_id`.
async fn put_cluster(
    State(emu): State<Arc<Emulator>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<serde_json::Value>(&body)
        .map_err(|e| ApiError::invalid("cluster", json_error(&e)))
        .and_then(|mut value| {
            let Some(object) = value.as_object_mut() else {
                return Err(ApiError::invalid("cluster", "expected a json object"));
            };
            if object
                .get("cluster_id")
                .is_some_and(|given| given.as_str() != Some(id.as_str()))
            {
                return Err(ApiError::invalid(
                    "cluster_id",
                    format!("the body names another cluster than {id}"),
                ));
            }
            object.insert("cluster_id".into(), json!(id));
            serde_json::from_value::<Cluster>(value)
                .map_err(|e| ApiError::invalid("cluster", json_error(&e)))
        });
    control(parsed.and_then(|cluster| {
        update(&emu, |a| {
            match a.clusters.iter_mut().find(|c| c.cluster_id == id) {
                Some(existing) => *existing = cluster,
                None => a.clusters.push(cluster),
            }
            Ok(())
        })
    }))
}

async fn delete_cluster(State(emu): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    control(update(&emu, |a| {
        a.cluster(&id)?;
        a.clusters.retain(|c| c.cluster_id != id);
        Ok(())
    }))
}

async fn end_cool_down(State(emu): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    control(update(&emu, |a| {
        a.cluster_mut(&id)?.last_kms_update = None;
        Ok(())
    }))
}
