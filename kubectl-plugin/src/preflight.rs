//! The preflight checklist of ACK's Secret-encryption flows, one check per module: the key
//! (everything `key check` checks, plus not-a-service-key), the account's authorization of
//! `AliyunCSManagedSecurityRole`, the caller's KMS policy and cluster role, the cluster's state
//! and KMS API version, the expected KMS calls and their cost, and the account balance. Each
//! check passes, warns or fails with a fix; what cannot be checked (a missing read permission)
//! says so and why, at `warn`, instead of failing. `enable` runs it first, `key check
//! --cluster-id` runs its RAM and ACK part.

mod balance;
mod caller_policy;
mod cluster;
mod cluster_role;
mod key;
mod kms_calls;
mod security_role;
mod service_key;

use kube::Client;
use secretkms_alibaba::cs::{ClusterDetail, CsError};
use secretkms_alibaba::sts::CallerIdentity;
use serde::Serialize;

pub use cluster::{KMS_V2_FROM, KMS_V2_SOURCE, KmsApi, api_check, kms_api, state_check};
pub use key::{KeyChecks, key_checks};
pub use kms_calls::{Estimate, Rates, Usage};
pub use security_role::{SECURITY_ROLE, SECURITY_ROLE_POLICY};
pub use service_key::{SERVICE_ALIAS_PREFIX, service_key_reason};

use crate::checklist::{self, Check};
use crate::cloud_access::Cloud;
use crate::kms_price::Price;
use crate::output::Level;

/// Which parts of the checklist to run beyond the key.
#[derive(Debug, Clone, PartialEq)]
pub enum Scope {
    /// The RAM and ACK prerequisites (`key check --cluster-id`).
    Prerequisites,
    /// Also the expected KMS calls, their cost and the balance (`enable`).
    /// `price` is the published price for the key (or `--price-per-10k`), or why there is none.
    Full { price: Result<Price, String> },
}

/// What the cloud-side checks found, beyond their lines.
#[derive(Debug, Clone, Default)]
pub struct CloudChecks {
    pub checks: Vec<Check>,
    pub caller: Option<CallerIdentity>,
    pub cluster: Option<ClusterDetail>,
    pub api: Option<KmsApi>,
    pub estimate: Option<Estimate>,
}

/// Who signs: a line of its own, as every caller check depends on it.
pub async fn caller(cloud: &Cloud) -> (Check, Option<CallerIdentity>) {
    match cloud.sts.get_caller_identity().await {
        Ok(id) => (
            Check::info("caller", format!("{} (account {})", id.arn, id.account_id)),
            Some(id),
        ),
        Err(e) => (Check::unchecked("caller", e), None),
    }
}

/// DescribeClusterDetail as a check: a missing cluster fails, anything else is unchecked.
pub async fn cluster(cloud: &Cloud, cluster_id: &str) -> Result<ClusterDetail, Check> {
    match cloud.cs.describe_cluster_detail(cluster_id).await {
        Ok(detail) => Ok(detail),
        Err(e @ CsError::ClusterNotFound(_)) => Err(Check::fail("cluster-state", e.to_string())
            .fix(format!(
                "check the cluster id {cluster_id} and --region {}",
                cloud.region
            ))),
        Err(e @ CsError::NoPermission(_)) => {
            Err(Check::unchecked("cluster-state", e).fix("grant cs:DescribeClusterDetail to check"))
        }
        Err(e) => Err(Check::unchecked("cluster-state", e)),
    }
}

/// The caller's cluster role, given its identity.
pub async fn cluster_role(
    cloud: &Cloud,
    cluster_id: &str,
    caller: Option<&CallerIdentity>,
) -> Check {
    match caller {
        Some(id) => cluster_role::check(&cloud.cs, cluster_id, id).await,
        None => Check::unchecked("caller-cluster-role", "the caller's identity is unknown"),
    }
}

/// Every RAM and ACK check for `cluster_id`, and with [`Scope::Full`] the cost and balance.
pub async fn cloud_checks(
    cloud: &Cloud,
    cluster_id: &str,
    kube: Result<&Client, &str>,
    scope: Scope,
) -> CloudChecks {
    let mut out = CloudChecks::default();
    let (line, caller) = caller(cloud).await;
    out.checks.push(line);
    out.checks.push(security_role::check(&cloud.ram).await);
    out.checks.push(match &caller {
        Some(id) => caller_policy::check(&cloud.ram, id).await,
        None => Check::unchecked("caller-kms-policy", "the caller's identity is unknown"),
    });
    out.checks
        .push(cluster_role(cloud, cluster_id, caller.as_ref()).await);
    match cluster(cloud, cluster_id).await {
        Ok(detail) => {
            out.checks.push(cluster::state_check(&detail));
            let (check, api) = cluster::api_check(&detail);
            out.checks.push(check);
            out.api = api;
            out.cluster = Some(detail);
        }
        Err(check) => out.checks.push(check),
    }
    if let Scope::Full { price } = scope {
        let estimate = match (kube, price) {
            (_, Err(reason)) => {
                out.checks.push(Check::unchecked("kms-calls", reason));
                None
            }
            (Ok(client), Ok(price)) => match kms_calls::usage(client).await {
                Ok(usage) => {
                    let estimate = kms_calls::estimate(&usage, out.api, &price);
                    out.checks.push(kms_calls::judge(&estimate));
                    Some(estimate)
                }
                Err(e) => {
                    out.checks
                        .push(Check::unchecked("kms-calls", format!("{e:#}")).fix(
                            "grant list on secrets and serviceaccounts (metadata only) to estimate",
                        ));
                    None
                }
            },
            (Err(reason), Ok(_)) => {
                out.checks.push(Check::unchecked("kms-calls", reason));
                None
            }
        };
        out.checks
            .push(balance::check(&cloud.bss, estimate.as_ref().map(|e| e.cost_per_month)).await);
        out.estimate = estimate;
    }
    out.caller = caller;
    out
}

/// `-o json|yaml` of a preflight.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PreflightReport {
    pub kind: &'static str,
    pub cluster_id: String,
    pub key: String,
    pub key_id: Option<String>,
    pub region: String,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
    /// `pass`, `warn` or `fail`: the worst level found (info counts as pass).
    pub result: Level,
}

impl PreflightReport {
    pub fn new(
        cluster_id: &str,
        key: &str,
        key_id: Option<String>,
        region: &str,
        checks: Vec<Check>,
        estimate: Option<Estimate>,
    ) -> Self {
        Self {
            kind: "Preflight",
            cluster_id: cluster_id.into(),
            key: key.into(),
            key_id,
            region: region.into(),
            result: checklist::result(&checks),
            checks,
            estimate,
        }
    }

    /// Whether the change may go ahead: no failure, and no warning unless `force`.
    pub fn allows(&self, force: bool) -> bool {
        match self.result {
            Level::Fail => false,
            Level::Warn => force,
            Level::Pass | Level::Info => true,
        }
    }
}
