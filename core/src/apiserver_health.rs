//! The apiserver's own view of its KMS provider: `GET /readyz/kms-providers`, asked by the
//! webhook's monitor and by `kubectl secretkms status` alike.
//!
//! 200 `ok`: a provider is configured and healthy. 500: configured and failing, with the reason
//! in the body. 404: no such check, so no KMS provider is configured. Caveat: the apiserver also
//! registers this check for any configuration loaded with automatic reload, even one without a
//! KMS provider, so "configured" really means "an encryption configuration is loaded".

pub mod readyz;

use kube::Client;

use secretkms_model::ApiserverFacts;

/// The apiserver path of the KMS health check.
pub const KMS_HEALTH_PATH: &str = "/readyz/kms-providers";

/// Asks the apiserver once. `Err` means the question could not be answered (unreachable,
/// forbidden, ...), which is different from an answer of "unhealthy".
pub async fn probe(client: &Client) -> Result<ApiserverFacts, String> {
    let req = http::Request::get(KMS_HEALTH_PATH)
        .body(Vec::new())
        .expect("a static request is valid");
    match client.request_text(req).await {
        Ok(body) => Ok(ApiserverFacts {
            kms_configured: true,
            kms_healthy: body.trim() == "ok",
            detail: trim(&body),
        }),
        Err(kube::Error::Api(status)) => match status.code {
            404 => Ok(ApiserverFacts {
                kms_configured: false,
                kms_healthy: false,
                detail:
                    "the apiserver has no kms-providers health check: no KMS provider is configured"
                        .into(),
            }),
            500 => Ok(ApiserverFacts {
                kms_configured: true,
                kms_healthy: false,
                detail: trim(&status.message),
            }),
            401 | 403 => Err(format!(
                "the apiserver refused {KMS_HEALTH_PATH} ({}): grant `get` on the non-resource URL {KMS_HEALTH_PATH} to the caller's identity",
                status.code
            )),
            code => Err(format!(
                "{KMS_HEALTH_PATH} answered {code}: {}",
                trim(&status.message)
            )),
        },
        Err(e) => Err(format!("{KMS_HEALTH_PATH} could not be read: {e}")),
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
