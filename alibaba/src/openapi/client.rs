//! The one HTTP client every service module sends through: it signs each attempt afresh, retries
//! throttling and server faults per the [`RetryPolicy`], and decodes the JSON answer or the
//! product's error body.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use url::Url;

use super::endpoint::{self, ServiceEndpoint};
use super::error::{ApiError, Error, Result};
use super::redact;
use super::request::{Request, SignedRequest};
use super::retry::RetryPolicy;
use super::signature::SignatureMethod;
use crate::credentials::{Credentials, CredentialsProvider};

/// How to reach one product's endpoint.
#[derive(Debug, Clone)]
pub struct ClientConfig<E> {
    pub endpoint: E,
    pub signature: SignatureMethod,
    pub connect_timeout: Duration,
    /// Whole-request timeout, per attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// PEM CA certificates that replace the public roots, for a custom https endpoint such as
    /// the emulator with TLS.
    pub ca_pem: Option<Vec<u8>>,
    pub user_agent: String,
    /// Added to the local clock when stamping requests. Zero in production; tests use it to
    /// reproduce clock skew (`IllegalTimestamp`) without touching the system clock.
    pub clock_offset: time::Duration,
}

impl<E> ClientConfig<E> {
    pub fn new(endpoint: E) -> Self {
        Self {
            endpoint,
            signature: SignatureMethod::default(),
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            ca_pem: None,
            user_agent: concat!("secretkms/", env!("CARGO_PKG_VERSION")).into(),
            clock_offset: time::Duration::ZERO,
        }
    }
}

/// A signing, retrying client for one endpoint; cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    /// The product's name in messages, e.g. `kms`.
    service: &'static str,
    http: reqwest::Client,
    base: Url,
    host: String,
    signature: SignatureMethod,
    retry: RetryPolicy,
    clock_offset: time::Duration,
    credentials: Arc<dyn CredentialsProvider>,
}

impl Client {
    pub fn new<E: ServiceEndpoint>(
        service: &'static str,
        config: &ClientConfig<E>,
        credentials: Arc<dyn CredentialsProvider>,
    ) -> Result<Self> {
        crate::install_crypto_provider();
        let base = config.endpoint.url().map_err(Error::Config)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(config.user_agent.clone())
            // A redirect would resend the signed request, credentials and all, elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        if let Some(pem) = &config.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| Error::Config(format!("invalid ca bundle: {e}")))?;
            if certs.is_empty() {
                return Err(Error::Config("ca bundle contains no certificate".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| Error::Config(format!("cannot build http client: {e}")))?;
        Ok(Self {
            service,
            host: endpoint::host_header(&base),
            base,
            http,
            signature: config.signature,
            retry: config.retry,
            clock_offset: config.clock_offset,
            credentials,
        })
    }

    /// The endpoint's base URL.
    pub fn endpoint(&self) -> &Url {
        &self.base
    }

    /// Sends `request`, retrying per the policy, and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(&self, request: &Request) -> Result<T> {
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.attempt(request).await {
                Err(err) if err.is_retryable() && attempt < max => {
                    tokio::time::sleep(self.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(err) => return Err(err.after_attempts(attempt)),
                ok => return ok,
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(&self, request: &Request) -> Result<T> {
        let action = request.action;
        let creds = self
            .credentials
            .fetch()
            .await
            .map_err(|error| Error::Credentials {
                operation: action,
                error,
            })?;
        let now = OffsetDateTime::now_utc() + self.clock_offset;
        let signed = self.signed_request(request, &creds, now)?;
        let transport = |e: reqwest::Error| Error::Transport {
            operation: action,
            host: self.host.clone(),
            attempts: 1,
            detail: redact::transport_detail(e),
        };
        let response = signed.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        let secrets = [
            Some(creds.access_key_secret.expose()),
            creds.security_token.as_ref().map(|t| t.expose()),
        ];
        let secrets: Vec<&str> = secrets.into_iter().flatten().collect();
        decode_answer(self.service, action, status, &body, &secrets)
    }

    /// Builds the signed request for one attempt (fresh nonce and timestamp every time); public
    /// for tests that send it themselves (replays, tampering).
    pub fn signed_request(
        &self,
        request: &Request,
        creds: &Credentials,
        now: OffsetDateTime,
    ) -> Result<reqwest::RequestBuilder> {
        let SignedRequest {
            method,
            url,
            headers,
            body,
        } = request.sign(&self.base, &self.host, self.signature, creds, now)?;
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|e| Error::Config(format!("invalid http method {method:?}: {e}")))?;
        let mut builder = self.http.request(method, url);
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        if !body.is_empty() {
            builder = builder.body(body);
        }
        Ok(builder)
    }
}

/// Decodes one answer of `service` to `action`: a 2xx body as `T`, anything else as the
/// product's error body, its message scrubbed of `secrets` (what the request carried). Every
/// answer [`Client::call`] receives goes through here; public for the fuzz target
/// (fuzz/fuzz_targets/alibaba_answers.rs), which feeds it arbitrary bodies.
pub fn decode_answer<T: DeserializeOwned>(
    service: &'static str,
    action: &'static str,
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<T> {
    if (200..300).contains(&status) {
        // ROA operations such as CS UpdateKMSEncryption answer without a body; it decodes
        // as JSON `null`, which a caller that expects nothing accepts.
        let json: &[u8] = if body.trim_ascii().is_empty() {
            b"null"
        } else {
            body
        };
        return serde_json::from_slice(json).map_err(|e| Error::MalformedResponse {
            operation: action,
            http_status: status,
            detail: format!(
                "{action} response is not the expected json ({} bytes): {}",
                body.len(),
                redact::json_error(&e)
            ),
        });
    }
    Err(error_answer(service, action, status, body, secrets))
}

/// The typed error of a non-2xx answer. Its message may quote the request (a
/// `SignatureDoesNotMatch` quotes the string to sign), so it is scrubbed of `secrets`.
fn error_answer(
    service: &'static str,
    action: &'static str,
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Error {
    // RPC products spell the fields `Code`, `Message`, `RequestId`; ROA ones (CS) send
    // `code`, `message`, `requestId`.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct ErrorBody {
        #[serde(alias = "code")]
        code: String,
        #[serde(default, alias = "message")]
        message: String,
        #[serde(default, alias = "requestId", alias = "request_id")]
        request_id: Option<String>,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => Error::from_api(ApiError {
            operation: action,
            http_status: status,
            code: redact::scrub(&e.code, secrets),
            message: redact::scrub(&e.message, secrets),
            request_id: e.request_id,
        }),
        // A proxy or load balancer may answer 5xx/429 without the product's JSON; still
        // retryable.
        Err(_) if status >= 500 || status == 429 => Error::from_api(ApiError {
            operation: action,
            http_status: status,
            code: format!("Http{status}"),
            message: format!("http {status} without a {service} error body"),
            request_id: None,
        }),
        Err(e) => Error::MalformedResponse {
            operation: action,
            http_status: status,
            detail: format!(
                "error response is not {service} error json ({} bytes): {}",
                body.len(),
                redact::json_error(&e)
            ),
        },
    }
}
