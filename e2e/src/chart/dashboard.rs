//! The chart's Grafana dashboard as the tests read it: the PromQL of every panel, and the names
//! of the series those queries read, so a test can parse them with promtool and find each series
//! on a real webhook and apiserver.

use std::path::PathBuf;

use serde_json::Value;

use super::chart_dir;
use crate::error::{HarnessError, Result};

/// `charts/secretkms/dashboards/secretkms.json`.
pub fn path() -> PathBuf {
    chart_dir().join("dashboards/secretkms.json")
}

/// One panel query: the panel's title and its PromQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub panel: String,
    pub expr: String,
}

/// Every panel's queries, in panel order.
pub fn queries() -> Result<Vec<Query>> {
    let text = std::fs::read_to_string(path())
        .map_err(HarnessError::io(format!("reading {}", path().display())))?;
    queries_of(&text)
}

/// The queries of a dashboard's JSON text.
pub fn queries_of(text: &str) -> Result<Vec<Query>> {
    let dashboard: Value = serde_json::from_str(text)
        .map_err(|e| HarnessError::Webhook(format!("the dashboard is not JSON: {e}")))?;
    let panels = dashboard["panels"].as_array().cloned().unwrap_or_default();
    Ok(panels
        .iter()
        .flat_map(|p| {
            let panel = p["title"].as_str().unwrap_or_default().to_string();
            p["targets"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |t| {
                    t["expr"].as_str().map(|expr| Query {
                        panel: panel.clone(),
                        expr: expr.to_string(),
                    })
                })
        })
        .collect())
}

/// The series a query reads: its identifiers that start with `secretkms_` or `apiserver_`.
pub fn series_of(expr: &str) -> Vec<String> {
    let mut out: Vec<String> = expr
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|w| w.starts_with("secretkms_") || w.starts_with("apiserver_"))
        .map(String::from)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_the_metric_names_in_a_query() {
        assert_eq!(
            series_of(
                "histogram_quantile(0.99, sum by (le) (rate(secretkms_admission_duration_seconds_bucket[5m])))"
            ),
            ["secretkms_admission_duration_seconds_bucket"]
        );
        assert!(series_of("sum by (source) (up)").is_empty());
    }

    #[test]
    fn the_charts_dashboard_has_queries() {
        let q = queries().unwrap();
        assert!(q.len() >= 10, "{q:?}");
        assert!(q.iter().all(|q| !series_of(&q.expr).is_empty()), "{q:?}");
    }
}
