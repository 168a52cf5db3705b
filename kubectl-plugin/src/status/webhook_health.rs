//! Is the secretkms webhook wired up? Its ValidatingWebhookConfiguration, whether the caBundle
//! there verifies the certificate the endpoint really serves, whether the endpoint answers, and
//! its failurePolicy.

use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    ValidatingWebhook, ValidatingWebhookConfiguration,
};
use kube::{Api, Client};
use serde::Serialize;

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
    let (endpoint, ca_bundle, answering) = if let Some(url) = &cc.url {
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
            "/api/v1/namespaces/{}/services/https:{}:{port}/proxy/healthz",
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
            Ok(_) => check(Level::Pass, "/healthz answered through the apiserver proxy"),
            Err(e) => check(
                Level::Fail,
                format!("/healthz through the apiserver proxy: {e}"),
            ),
        };
        (endpoint, ca, answering)
    } else {
        (
            String::new(),
            check(Level::Fail, "no clientConfig url or service"),
            check(Level::Fail, "no endpoint"),
        )
    };
    WebhookHealth {
        configuration: config.to_string(),
        webhook: hook.name.clone(),
        failure_policy,
        endpoint,
        ca_bundle,
        answering,
    }
}

/// GET `/healthz` on the webhook's host trusting only the caBundle; if that fails, again
/// trusting anything, which tells a caBundle mismatch from an endpoint that is down.
async fn probe_url(url: &str, certs: Vec<reqwest::Certificate>) -> (Check, Check) {
    let health = match reqwest::Url::parse(url) {
        Ok(mut u) => {
            u.set_path("/healthz");
            u.set_query(None);
            u
        }
        Err(e) => {
            return (
                check(Level::Fail, format!("invalid url {url:?}: {e}")),
                check(Level::Fail, "invalid url"),
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
                check(Level::Fail, "not tried"),
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
            answer(resp.status()),
        ),
        Err(strict_error) => {
            let loose =
                plain_answer(builder().tls_danger_accept_invalid_certs(true), &health).await;
            if loose.level == Level::Pass {
                (
                    check(
                        Level::Fail,
                        format!(
                            "the serving certificate does not verify against the caBundle: {}",
                            describe(&strict_error)
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

async fn plain_answer(builder: reqwest::ClientBuilder, url: &reqwest::Url) -> Check {
    match builder.build() {
        Ok(c) => match c.get(url.clone()).send().await {
            Ok(resp) => answer(resp.status()),
            Err(e) => check(Level::Fail, format!("{url}: {}", describe(&e))),
        },
        Err(e) => check(Level::Fail, e.to_string()),
    }
}

fn answer(status: reqwest::StatusCode) -> Check {
    if status.is_success() {
        check(Level::Pass, format!("/healthz answered {status}"))
    } else {
        check(Level::Fail, format!("/healthz answered {status}"))
    }
}

/// reqwest's message with its causes (the TLS reason is several levels down).
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let t = c.to_string();
        if !text.contains(&t) {
            text.push_str(": ");
            text.push_str(&t);
        }
        cause = c.source();
    }
    text
}
