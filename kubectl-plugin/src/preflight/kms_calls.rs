//! The KMS calls a month the cluster will make once encrypted, and their cost at a price per
//! 10,000 calls (KMS bills API calls per 10,000). ACK warns that Secrets and above all
//! ServiceAccounts drive the calls, so the estimate starts from their counts; where the
//! apiserver's own metrics show its rates, those win:
//!
//! 1. KMS v2 already on: `apiserver_envelope_encryption_kms_operations_latency_seconds_count`
//!    counts each Encrypt/Decrypt call to the plugin (`envelope/kmsv2/grpc_service.go`,
//!    `recordMetricsInterceptor`), over the process's uptime (`process_start_time_seconds`).
//! 2. Any encryption configuration loaded: Secret writes and reads from
//!    `apiserver_storage_transformation_operations_total{resource="secrets"}`; with KMS v1 each
//!    write is one Encrypt and each storage read at most one Decrypt (its cache absorbs
//!    repeats); with KMS v2 neither calls KMS per object.
//! 3. Neither: counts alone, with the assumption named in the detail.

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::{Api, Client};
use secretkms_core::apiserver_metrics::{self, Sample};
use serde::Serialize;

use super::KmsApi;
use crate::checklist::Check;
use crate::kms_price::Price;
use crate::object_count::count;

const NAME: &str = "kms-calls";
const MONTH_SECONDS: f64 = 30.0 * 86_400.0;
const KMS_OPERATIONS: &str = "apiserver_envelope_encryption_kms_operations_latency_seconds_count";
const TRANSFORMATIONS: &str = "apiserver_storage_transformation_operations_total";
const PROCESS_START: &str = "process_start_time_seconds";
/// KMS v2 calls KMS once per DEK seed (at each apiserver start and key_id change) and once per
/// seed to decrypt: assumed a start a day.
const V2_CALLS_PER_APISERVER_MONTH: f64 = 60.0;

/// What the apiserver's metrics show, per second of its uptime.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    pub uptime_seconds: f64,
    /// Encrypt and Decrypt calls to the KMS v2 plugin, if it is configured.
    pub kms_calls: Option<f64>,
    pub secret_writes: f64,
    pub secret_reads: f64,
}

/// The inputs of the estimate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    pub secrets: u64,
    pub service_accounts: u64,
    pub rates: Option<Rates>,
}

/// The estimate and what it rests on.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub calls_per_month: u64,
    pub cost_per_month: f64,
    pub price: Price,
    pub basis: String,
}

/// The rates in a `/metrics` text, `now` being the reader's clock in unix seconds.
pub fn rates(metrics: &str, now: f64) -> Option<Rates> {
    let samples = apiserver_metrics::parse(metrics, |n| {
        n == KMS_OPERATIONS || n == TRANSFORMATIONS || n == PROCESS_START
    });
    let start = samples.iter().find(|s| s.name == PROCESS_START)?.value;
    let uptime = now - start;
    if uptime <= 0.0 {
        return None;
    }
    let kms: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == KMS_OPERATIONS)
        .filter(|s| {
            s.label("method_name")
                .is_some_and(|m| m.ends_with("/Encrypt") || m.ends_with("/Decrypt"))
        })
        .collect();
    let secrets = |kind: &str| -> f64 {
        samples
            .iter()
            .filter(|s| {
                s.name == TRANSFORMATIONS
                    && s.label("resource") == Some("secrets")
                    && s.label("transformation_type") == Some(kind)
                    && is_outer_prefix(s.label("transformer_prefix").unwrap_or_default())
            })
            .map(|s| s.value)
            .sum()
    };
    Some(Rates {
        uptime_seconds: uptime,
        kms_calls: (!kms.is_empty()).then(|| kms.iter().map(|s| s.value).sum::<f64>() / uptime),
        secret_writes: secrets("to_storage") / uptime,
        secret_reads: secrets("from_storage") / uptime,
    })
}

/// Only a provider's own prefix counts a write; local keys nest a second one (`key1:`).
fn is_outer_prefix(prefix: &str) -> bool {
    prefix.is_empty() || prefix.starts_with(secretkms_model::SecretWriter::PROVIDER_PREFIX)
}

/// The estimate for `api` (None: not known, taken as v1, the costlier).
pub fn estimate(usage: &Usage, api: Option<KmsApi>, price: &Price) -> Estimate {
    let objects = usage.secrets + usage.service_accounts;
    let (calls, basis) = match (&usage.rates, api) {
        (Some(Rates { kms_calls: Some(rate), .. }), _) => (
            rate * MONTH_SECONDS,
            "the apiserver's KMS call rate since it started".to_string(),
        ),
        (Some(r), Some(KmsApi::V2)) if r.secret_writes + r.secret_reads > 0.0 => (
            V2_CALLS_PER_APISERVER_MONTH,
            "KMS v2 calls KMS per DEK seed, not per Secret: about one start a day".to_string(),
        ),
        (Some(r), _) if r.secret_writes + r.secret_reads > 0.0 => (
            (r.secret_writes + r.secret_reads) * MONTH_SECONDS,
            "KMS v1: one call per Secret write and storage read at the apiserver's rates (an upper bound: its cache absorbs repeated reads)".to_string(),
        ),
        (_, Some(KmsApi::V2)) => (
            V2_CALLS_PER_APISERVER_MONTH,
            "KMS v2 calls KMS per DEK seed, not per Secret: about one apiserver start a day".to_string(),
        ),
        _ => (
            2.0 * 30.0 * objects as f64,
            format!(
                "KMS v1, assumed one write and one read a day of each of {} Secrets and {} ServiceAccounts (no metrics)",
                usage.secrets, usage.service_accounts
            ),
        ),
    };
    let calls = calls.ceil() as u64;
    Estimate {
        calls_per_month: calls,
        cost_per_month: calls as f64 / 10_000.0 * price.per_10k_calls,
        price: price.clone(),
        basis,
    }
}

pub fn judge(estimate: &Estimate) -> Check {
    Check::info(
        NAME,
        format!(
            "about {} KMS calls a month, {:.2} {} at {} ({})",
            estimate.calls_per_month,
            estimate.cost_per_month,
            estimate.price.currency,
            estimate.price.describe(),
            estimate.basis
        ),
    )
}

/// Counts Secrets and ServiceAccounts (metadata only) and reads `/metrics` once.
pub async fn usage(client: &Client) -> anyhow::Result<Usage> {
    let secrets = count(Api::<Secret>::all(client.clone())).await?;
    let service_accounts = count(Api::<ServiceAccount>::all(client.clone())).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default();
    let req = http::Request::get(secretkms_core::secret_writers::METRICS_PATH)
        .body(Vec::new())
        .expect("a static request is valid");
    let rates = client
        .request_text(req)
        .await
        .ok()
        .and_then(|text| rates(&text, now));
    Ok(Usage {
        secrets,
        service_accounts,
        rates,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const METRICS: &str = r#"# TYPE process_start_time_seconds gauge
process_start_time_seconds 1000
apiserver_envelope_encryption_kms_operations_latency_seconds_count{grpc_status_code="OK",method_name="/v2.KeyManagementService/Encrypt",provider_name="kms"} 3
apiserver_envelope_encryption_kms_operations_latency_seconds_count{grpc_status_code="OK",method_name="/v2.KeyManagementService/Decrypt",provider_name="kms"} 7
apiserver_envelope_encryption_kms_operations_latency_seconds_count{grpc_status_code="OK",method_name="/v2.KeyManagementService/Status",provider_name="kms"} 900
apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="to_storage",transformer_prefix="k8s:enc:kms:v2:kms:"} 40
apiserver_storage_transformation_operations_total{resource="secrets",status="OK",transformation_type="from_storage",transformer_prefix="k8s:enc:kms:v2:kms:"} 60
"#;

    #[test]
    fn kms_call_counts_win_and_status_calls_are_not_billed_calls() {
        let rates = rates(METRICS, 2000.0).unwrap();
        assert_eq!(rates.kms_calls, Some(10.0 / 1000.0));
        assert_eq!(rates.secret_writes, 0.04);
        let usage = Usage {
            secrets: 10,
            service_accounts: 5,
            rates: Some(rates),
        };
        let e = estimate(&usage, Some(KmsApi::V2), &Price::given(0.03));
        assert_eq!(e.calls_per_month, 25_920);
        assert!((e.cost_per_month - 2.592 * 0.03).abs() < 1e-9);
        assert!(e.basis.contains("KMS call rate"));
    }

    #[test]
    fn without_metrics_service_accounts_drive_a_v1_estimate_and_v2_stays_flat() {
        let usage = Usage {
            secrets: 100,
            service_accounts: 400,
            rates: None,
        };
        let v1 = estimate(&usage, Some(KmsApi::V1), &Price::given(0.03));
        assert_eq!(v1.calls_per_month, 30_000);
        assert!(v1.basis.contains("400 ServiceAccounts"));
        let unknown = estimate(&usage, None, &Price::given(0.03));
        assert_eq!(
            unknown.calls_per_month, v1.calls_per_month,
            "unknown is the costlier"
        );
        let v2 = estimate(&usage, Some(KmsApi::V2), &Price::given(0.03));
        assert_eq!(v2.calls_per_month, 60);
        assert!(judge(&v2).detail.contains("per 10,000 calls"));
    }

    #[test]
    fn v1_uses_the_secret_rates() {
        let text = METRICS.replace("kms_operations_latency_seconds_count", "other");
        let usage = Usage {
            secrets: 1,
            service_accounts: 1,
            rates: rates(&text, 2000.0),
        };
        let e = estimate(&usage, Some(KmsApi::V1), &Price::given(0.03));
        assert_eq!(e.calls_per_month, (0.1 * MONTH_SECONDS).ceil() as u64);
    }
}
