//! The apiserver's KMS health, as its own readiness checks report it
//! (`secretkms_core::apiserver_health::probe`: every `kms-provider*` check by name).

use std::time::{Duration, Instant};

use kube::Client;
use secretkms_core::apiserver_health;
use secretkms_model::ApiserverFacts;

use crate::checklist::Check;

const NAME: &str = "kms-health";

/// What `facts` say, given whether KMS should be configured now.
pub fn judge(facts: &ApiserverFacts, expect_kms: bool) -> Check {
    let names: Vec<&str> = facts.checks.iter().map(|c| c.name.as_str()).collect();
    match (expect_kms, facts.kms_configured, facts.kms_healthy) {
        (true, true, true) => Check::pass(NAME, format!("{} ok", names.join(", "))),
        (true, true, false) => Check::fail(NAME, facts.detail.clone()).fix(
            "the apiserver cannot reach KMS: check the key is Enabled and AliyunCSManagedSecurityRole may use it",
        ),
        (true, false, _) => Check::fail(NAME, facts.detail.clone()),
        (false, false, _) => Check::pass(NAME, "no KMS health check: no KMS provider configured"),
        // After a disable, ACK keeps a KMS provider to read what is still encrypted.
        (false, true, true) => Check::info(
            NAME,
            format!("{} ok (kept to read Secrets still encrypted)", names.join(", ")),
        ),
        (false, true, false) => Check::warn(NAME, facts.detail.clone()).fix(
            "Secrets still encrypted with KMS cannot be read while KMS is unhealthy: keep the key enabled",
        ),
    }
}

/// How long an apiserver just restarted by the change gets to answer and settle.
const SETTLE: Duration = Duration::from_secs(60);
const RETRY_EVERY: Duration = Duration::from_secs(2);

/// Probes until the apiserver answers with its KMS plugin settled, or [`SETTLE`] passed: right
/// after a change it may still be restarting and its plugin still starting.
pub async fn check(client: &Client, expect_kms: bool) -> (Check, Option<ApiserverFacts>) {
    let started = Instant::now();
    loop {
        let (check, facts, settled) = match apiserver_health::probe(client).await {
            Ok(facts) => {
                // A plugin still starting: configured, not yet healthy.
                let starting = facts.kms_configured && !facts.kms_healthy;
                (judge(&facts, expect_kms), Some(facts), !starting)
            }
            Err(e) => (Check::unchecked(NAME, e), None, false),
        };
        if settled || started.elapsed() >= SETTLE {
            return (check, facts);
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Level;
    use secretkms_model::KmsCheck;

    fn facts(healthy: Option<bool>) -> ApiserverFacts {
        ApiserverFacts::from_checks(
            healthy
                .map(|h| KmsCheck {
                    name: "kms-providers".into(),
                    healthy: h,
                    detail: if h { "ok".into() } else { "failed".into() },
                })
                .into_iter()
                .collect(),
        )
    }

    #[test]
    fn what_passes_depends_on_what_is_expected() {
        assert_eq!(judge(&facts(Some(true)), true).level, Level::Pass);
        assert_eq!(judge(&facts(Some(false)), true).level, Level::Fail);
        assert_eq!(judge(&facts(None), true).level, Level::Fail);
        assert_eq!(judge(&facts(None), false).level, Level::Pass);
        assert_eq!(judge(&facts(Some(true)), false).level, Level::Info);
        assert_eq!(judge(&facts(Some(false)), false).level, Level::Warn);
    }
}
