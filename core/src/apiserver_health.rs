//! The apiserver's own view of its KMS providers, asked by the webhook's monitor and by
//! `kubectl secretkms status` alike.
//!
//! No single path answers for every layout: KMS v2 only (or automatic reload on) gives one check
//! `kms-providers`, while any KMS v1 provider without reload gives one check per provider,
//! `kms-provider-0..N-1` ([`readyz`]). So the probe reads the verbose listing for the names, then
//! asks each KMS check by name for its text, which the listing withholds (`reason withheld`).
//! No KMS check at all means no KMS provider is configured. Caveat: with automatic reload the
//! apiserver registers `kms-providers` even for a configuration without a KMS provider, so
//! "configured" really means "an encryption configuration is loaded"; which provider actually
//! writes Secrets is a separate fact ([`crate::apiserver_metrics`]).

pub mod readyz;

use kube::Client;

use secretkms_model::{ApiserverFacts, KmsCheck};

/// The verbose listing of every readiness check.
pub const READYZ_VERBOSE_PATH: &str = "/readyz?verbose";

/// The path of one readiness check.
pub fn check_path(name: &str) -> String {
    format!("/readyz/{name}")
}

/// Asks the apiserver once. `Err` means the question could not be answered (unreachable,
/// forbidden, ...), which is different from an answer of "unhealthy".
pub async fn probe(client: &Client) -> Result<ApiserverFacts, String> {
    let listing = get(client, READYZ_VERBOSE_PATH).await?;
    let mut checks = Vec::new();
    for check in readyz::parse_verbose(listing.body())
        .into_iter()
        .filter(|c| readyz::is_kms_check(&c.name))
    {
        let path = check_path(&check.name);
        let answer = get(client, &path).await?;
        checks.push(KmsCheck {
            name: check.name,
            healthy: answer.passed() && answer.body().trim() == "ok",
            detail: trim(answer.body()),
        });
    }
    Ok(ApiserverFacts::from_checks(checks))
}

/// A readiness answer: 200 with its body, or 500 with the failing checks' text.
enum Answer {
    Passed(String),
    Failed(String),
}

impl Answer {
    fn passed(&self) -> bool {
        matches!(self, Self::Passed(_))
    }

    fn body(&self) -> &str {
        match self {
            Self::Passed(b) | Self::Failed(b) => b,
        }
    }
}

async fn get(client: &Client, path: &str) -> Result<Answer, String> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .expect("a static request is valid");
    match client.request_text(req).await {
        Ok(body) => Ok(Answer::Passed(body)),
        Err(kube::Error::Api(status)) => match status.code {
            500 => Ok(Answer::Failed(status.message)),
            401 | 403 => {
                let url = path.split('?').next().unwrap_or(path);
                Err(format!(
                    "the apiserver refused {url} ({}): grant `get` on the non-resource URLs \
                     /readyz and /readyz/kms-provider* to the caller's identity",
                    status.code
                ))
            }
            code => Err(format!("{path} answered {code}: {}", trim(&status.message))),
        },
        Err(e) => Err(format!("{path} could not be read: {e}")),
    }
}

fn trim(text: &str) -> String {
    let t = text.trim();
    if t.len() > 512 {
        format!("{}...", &t[..t.floor_char_boundary(512)])
    } else {
        t.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_details_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = trim(&long);
        assert!(cut.ends_with("..."));
        assert!(cut.len() <= 515);
    }
}
