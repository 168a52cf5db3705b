//! What `status` reports: each part gathered independently as a value or the reason it is
//! unknown, and the findings on them. The `-o json|yaml` document is this type (schema in the
//! README, "kubectl secretkms").

use secretkms_core::judgement::Finding;
use secretkms_core::rotation_reach::Rewritten;
use secretkms_model::{ApiserverFacts, Declared, KeyFacts};
use serde::Serialize;

use super::{EtcdCounts, WebhookHealth};
use crate::rotation_evidence::ReachReport;

/// One part of the status: its value, or why it is unknown.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Part<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Part<T> {
    pub fn ok(value: T) -> Self {
        Self {
            value: Some(value),
            error: None,
        }
    }

    pub fn none() -> Self {
        Self {
            value: None,
            error: None,
        }
    }

    pub fn err(error: impl std::fmt::Display) -> Self {
        Self {
            value: None,
            error: Some(format!("{error:#}")),
        }
    }

    pub fn from(result: Result<T, impl std::fmt::Display>) -> Self {
        match result {
            Ok(v) => Self::ok(v),
            Err(e) => Self::err(e),
        }
    }
}

/// What the policies decide for a Secret CREATE right now.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPreview {
    pub namespace: String,
    pub allowed: bool,
    pub code: u16,
    pub message: String,
    pub warnings: Vec<String>,
}

/// Secrets carrying the current rotation time.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RewriteProgress {
    pub annotation: String,
    pub time: String,
    pub done: u64,
    pub total: u64,
    /// What carrying the annotation means here: re-wrapped by the current key version,
    /// annotated only, or unknown (see `rotation`).
    pub rewritten: Rewritten,
}

/// The whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub kind: &'static str,
    pub declared: Part<Declared>,
    pub key: Part<KeyFacts>,
    pub apiserver: Part<ApiserverFacts>,
    pub webhooks: Part<Vec<WebhookHealth>>,
    pub policy: Part<PolicyPreview>,
    pub rewrite: Part<RewriteProgress>,
    /// What a rewrite moves in this cluster.
    pub rotation: Part<ReachReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Part<EtcdCounts>>,
    pub findings: Vec<Finding>,
    /// True when no finding is a failure.
    pub healthy: bool,
}
