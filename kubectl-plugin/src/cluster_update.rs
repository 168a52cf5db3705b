//! The change itself: UpdateKMSEncryption, then the wait for `running`. ACK's two refusals a
//! person can act on are checks with their fix, not errors: the cool-down after a recent change
//! (HTTP 409) and a caller without the cluster's admin or O&M role (`ForbiddenUpdateKMSState`).

use std::time::Duration;

use clap::Args;
use secretkms_alibaba::cs::{CsClient, CsError, UpdateKmsEncryption};
use serde::Serialize;

use crate::checklist::Check;
use crate::cluster_wait::{self, Waited};

/// `--timeout`, `--poll-interval`.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// How long to wait for the cluster to be running again.
    #[arg(long, value_name = "DURATION", default_value = "20m", value_parser = secretkms_alibaba::duration::parse)]
    pub timeout: Duration,
    /// How often to ask ACK for the cluster's state.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = secretkms_alibaba::duration::parse)]
    pub poll_interval: Duration,
}

/// How the change went.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Update {
    pub check: Check,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited: Option<Waited>,
}

impl Update {
    pub fn applied(&self) -> bool {
        self.waited.as_ref().is_some_and(|w| w.outcome == "running")
    }
}

/// Calls UpdateKMSEncryption with `request` and waits.
pub async fn apply(
    cs: &CsClient,
    cluster_id: &str,
    request: UpdateKmsEncryption,
    wait: &WaitArgs,
    quiet: bool,
) -> anyhow::Result<Update> {
    const NAME: &str = "update";
    let what = if request.disable_encryption {
        "turn Secret encryption off"
    } else {
        "turn Secret encryption on"
    };
    match cs.update_kms_encryption(cluster_id, request).await {
        Ok(()) => {}
        Err(e @ CsError::CoolDown(_)) => {
            return Ok(Update {
                check: Check::fail(NAME, format!("ACK refused to {what}: {e}")).fix(
                    "ACK allows one encryption change about every five minutes: wait, then run the command again",
                ),
                waited: None,
            });
        }
        Err(e @ CsError::ForbiddenUpdateKmsState(_)) => {
            return Ok(Update {
                check: Check::fail(NAME, format!("ACK refused to {what}: {e}")).fix(format!(
                    "grant the caller the admin or O&M role of cluster {cluster_id} (ACK console: Authorizations)"
                )),
                waited: None,
            });
        }
        Err(e @ (CsError::InvalidParameter(_) | CsError::NoPermission(_))) => {
            return Ok(Update {
                check: Check::fail(NAME, format!("ACK refused to {what}: {e}")),
                waited: None,
            });
        }
        Err(e) => {
            return Err(anyhow::Error::msg(e.to_string())
                .context(format!("cannot {what} on cluster {cluster_id}")));
        }
    }
    let waited =
        cluster_wait::until_running(cs, cluster_id, wait.timeout, wait.poll_interval, quiet)
            .await?;
    let check = match waited.outcome {
        "running" => Check::pass(
            NAME,
            format!("{what}: cluster {cluster_id} running again after {}s", waited.seconds),
        ),
        "failed" => Check::fail(
            NAME,
            format!("{what}: cluster {cluster_id} ended {} after {}s", waited.state, waited.seconds),
        )
        .fix("see the cluster's task in the ACK console; the apiserver keeps its previous configuration"),
        _ => Check::fail(
            NAME,
            format!(
                "{what}: cluster {cluster_id} still {} after {}s",
                waited.state, waited.seconds
            ),
        )
        .fix("wait, then run kubectl secretkms verify; or pass a longer --timeout"),
    };
    Ok(Update {
        check,
        waited: Some(waited),
    })
}
