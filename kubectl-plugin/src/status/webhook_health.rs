//! Is the secretkms webhook wired up? Its ValidatingWebhookConfiguration, whether the caBundle
//! there verifies the certificate the endpoint really serves, whether the endpoint is ready,
//! its failurePolicy, and the weakenings it was started with (`/readyz` names each on a line
//! of its own, in [`secretkms_core::webhook_readyz`]'s format).

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingWebhook, ValidatingWebhookConfiguration,
};
use kube::{Api, Client};
use serde::Serialize;

use secretkms_core::webhook_readyz::weakenings;

use crate::output::Level;

/// The webhook names secretkms registers (chart and tests): `<something>.secretkms.io`.
pub const WEBHOOK_SUFFIX: &str = ".secretkms.io";

/// One registered webhook.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookHealth {
    pub configuration: String,
    pub webhook: String,
    /// `Fail` or `Ignore` (the API default is `Fail`).
    pub failure_policy: String,
    /// `url` or `service ns/name:port`.
    pub endpoint: String,
    pub ca_bundle: Check,
    pub answering: Check,
    /// What the webhook's `/readyz` says switches its guard off (a state file, no enforcing
    /// secret-write guard); empty when nothing is, or when it did not answer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub weakened: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Check {
    pub level: Level,
    pub detail: String,
}

fn check(level: Level, detail: impl Into<String>) -> Check {
    Check {
        level,
        detail: detail.into(),
    }
}

/// Every webhook named `*.secretkms.io`, or named `only`.
pub async fn inspect(client: &Client, only: Option<&str>) -> anyhow::Result<Vec<WebhookHealth>> {
    let configs = Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .list(&Default::default())
        .await
        .map_err(crate::causes::folded)?;
    let mut out = Vec::new();
    for config in configs.items {
        let config_name = config.metadata.name.clone().unwrap_or_default();
        for hook in config.webhooks.unwrap_or_default() {
            let wanted = match only {
                Some(name) => hook.name == name || config_name == name,
                None => hook.name.ends_with(WEBHOOK_SUFFIX),
            };
            if wanted {
                out.push(inspect_one(client, &config_name, &hook).await);
            }
        }
    }
    Ok(out)
}

async fn inspect_one(client: &Client, config: &str, hook: &ValidatingWebhook) -> WebhookHealth {
    let cc = &hook.client_config;
    let bundle = cc
        .ca_bundle
        .as_ref()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let certs = reqwest::Certificate::from_pem_bundle(&bundle).unwrap_or_default();
    let failure_policy = hook.failure_policy.clone().unwrap_or_else(|| "Fail".into());
    let (endpoint, ca_bundle, (answering, weakened)) = if let Some(url) = &cc.url {
        let (ca, answering) = probe_url(url, certs).await;
        (url.clone(), ca, answering)
    } else if let Some(svc) = &cc.service {
        let port = svc.port.unwrap_or(443);
        let endpoint = format!("service {}/{}:{port}", svc.namespace, svc.name);
        let ca = if certs.is_empty() {
            check(
                Level::Fail,
                "no caBundle: the apiserver cannot verify the webhook",
            )
        } else {
            check(
                Level::Info,
                format!(
                    "{} certificate(s); not compared: a Service endpoint is reached only through the apiserver",
                    certs.len()
                ),
            )
        };
        let path = format!(
            "/api/v1/namespaces/{}/services/https:{}:{port}/proxy/readyz",
            svc.namespace, svc.name
        );
        let answering = match client
            .request_text(
                http::Request::get(&path)
                    .body(Vec::new())
                    .expect("valid request"),
            )
            .await
        {
            Ok(body) => (
                check(Level::Pass, "/readyz answered through the apiserver proxy"),
                weakenings(&body),
            ),
            Err(e) => (
                check(
                    Level::Fail,
                    format!("/readyz through the apiserver proxy: {e}"),
                ),
                Vec::new(),
            ),
        };
        (endpoint, ca, answering)
    } else {
        (
            String::new(),
            check(Level::Fail, "no clientConfig url or service"),
            (check(Level::Fail, "no endpoint"), Vec::new()),
        )
    };
    WebhookHealth {
        configuration: config.to_string(),
        webhook: hook.name.clone(),
        failure_policy,
        endpoint,
        ca_bundle,
        answering,
        weakened,
    }
}

/// What the endpoint answered, and the weakenings its body names.
type Answer = (Check, Vec<String>);

/// GET `/readyz` on the webhook's host trusting only the caBundle; if that fails, again
/// trusting anything, which tells a caBundle mismatch from an endpoint that is down.
async fn probe_url(url: &str, certs: Vec<reqwest::Certificate>) -> (Check, Answer) {
    let health = match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_path("/readyz");
            u.set_query(None);
            u
        }
        Err(e) => {
            return (
                check(Level::Fail, format!("invalid url {url:?}: {e}")),
                (check(Level::Fail, "invalid url"), Vec::new()),
            );
        }
    };
    let builder = || {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
    };
    if certs.is_empty() {
        return (
            check(
                Level::Fail,
                "no caBundle: the apiserver cannot verify the webhook",
            ),
            plain_answer(builder(), &health).await,
        );
    }
    let n = certs.len();
    let strict = match builder().tls_certs_only(certs).build() {
        Ok(c) => c,
        Err(e) => {
            return (
                check(Level::Fail, format!("unusable caBundle: {e}")),
                (check(Level::Fail, "not tried"), Vec::new()),
            );
        }
    };
    match strict.get(health.clone()).send().await {
        Ok(resp) => (
            check(
                Level::Pass,
                format!(
                    "the serving certificate verifies against the caBundle ({n} certificate(s))"
                ),
            ),
            answer(resp).await,
        ),
        Err(strict_error) => {
            let loose =
                plain_answer(builder().tls_danger_accept_invalid_certs(true), &health).await;
            if loose.0.level == Level::Pass {
                (
                    check(
                        Level::Fail,
                        format!(
                            "the serving certificate does not verify against the caBundle: {}",
                            crate::causes::once(&strict_error)
                        ),
                    ),
                    loose,
                )
            } else {
                (
                    check(Level::Warn, "not checked: the endpoint does not answer"),
                    loose,
                )
            }
        }
    }
}

async fn plain_answer(builder: reqwest::ClientBuilder, url: &reqwest::Url) -> Answer {
    match builder.build() {
        Ok(c) => match c.get(url.clone()).send().await {
            Ok(resp) => answer(resp).await,
            Err(e) => (
                check(Level::Fail, format!("{url}: {}", crate::causes::once(&e))),
                Vec::new(),
            ),
        },
        Err(e) => (check(Level::Fail, e.to_string()), Vec::new()),
    }
}

/// A ready webhook passes; one that is not ready fails with the reason its body gives (with
/// `failurePolicy: Ignore` an unready webhook admits every write unchecked).
async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    let first = body.lines().next().unwrap_or_default();
    if status.is_success() {
        (
            check(Level::Pass, format!("/readyz answered {status}")),
            weakenings(&body),
        )
    } else {
        (
            check(Level::Fail, format!("/readyz answered {status}: {first}")),
            weakenings(&body),
        )
    }
}
