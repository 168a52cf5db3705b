//! Alibaba Cloud KMS client (OpenAPI 2016-01-20, RPC style): signed requests, bounded retries
//! on throttling and server faults, typed errors, and typed responses with the real field names.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use secretkms_core::credentials::{DefaultChain, Environment};
//! use secretkms_core::kms::{Endpoint, KmsClient, KmsConfig};
//!
//! let credentials = Arc::new(DefaultChain::cached(&Environment::from_process()));
//! let kms = KmsClient::new(KmsConfig::new(Endpoint::Vpc { region: "cn-hangzhou".into() }), credentials)?;
//! let facts = kms.key_facts("alias/k8s-secrets").await?;
//! println!("{} is {}", facts.key_id, facts.state_name);
//! # Ok(()) }
//! ```

pub mod endpoint;
mod error;
mod key_metadata;
mod responses;
mod retry;
pub mod signature;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use url::Url;

use crate::credentials::{Credentials, CredentialsProvider};
use crate::state::KeyFacts;

pub use endpoint::Endpoint;
pub use error::{ApiError, KmsError};
pub use key_metadata::{KeyArn, KeyMetadata};
pub use responses::{
    Acknowledged, Alias, Aliases, CreateKeyRequest, CreateKeyResponse, DataKey, Decrypted,
    DescribeKeyResponse, DescribeKeyVersionResponse, EncryptResponse, KeyVersion, KeyVersions,
    ListAliasesResponse, ListKeyVersionsResponse, SecretBytes,
};
pub use retry::RetryPolicy;
pub use signature::SignatureMethod;

/// Result of KMS calls.
pub type Result<T, E = KmsError> = std::result::Result<T, E>;

/// The KMS API version every request names.
pub const API_VERSION: &str = "2016-01-20";

/// Installs ring as the process's rustls provider (reqwest is built without one); a no-op when a
/// provider is already installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// How to reach KMS.
#[derive(Debug, Clone)]
pub struct KmsConfig {
    pub endpoint: Endpoint,
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

impl KmsConfig {
    pub fn new(endpoint: Endpoint) -> Self {
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

/// A KMS client; cheap to clone.
#[derive(Debug, Clone)]
pub struct KmsClient {
    http: reqwest::Client,
    base: Url,
    host: String,
    config: Arc<KmsConfig>,
    credentials: Arc<dyn CredentialsProvider>,
}

type Params = Vec<(String, String)>;

fn p(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// The `detail` of a transport error: reqwest's message plus its causes, without duplication.
fn describe_transport(error: &reqwest::Error) -> String {
    let mut detail = if error.is_timeout() {
        "timed out".to_string()
    } else {
        error.without_url_ref().to_string()
    };
    let mut cause = std::error::Error::source(error);
    while let Some(c) = cause {
        let text = c.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        cause = c.source();
    }
    detail
}

trait WithoutUrl {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrl for reqwest::Error {
    fn without_url_ref(&self) -> String {
        // The URL is already named by the error's `host`; keep the message short.
        let mut text = self.to_string();
        if let Some(url) = self.url() {
            text = text.replace(&format!(" for url ({url})"), "");
        }
        text
    }
}

impl KmsClient {
    pub fn new(config: KmsConfig, credentials: Arc<dyn CredentialsProvider>) -> Result<Self> {
        install_crypto_provider();
        let base = config.endpoint.url().map_err(KmsError::Config)?;
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .user_agent(config.user_agent.clone())
            .no_proxy();
        if let Some(pem) = &config.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| KmsError::Config(format!("invalid ca bundle: {e}")))?;
            if certs.is_empty() {
                return Err(KmsError::Config("ca bundle contains no certificate".into()));
            }
            builder = builder.tls_certs_only(certs);
        }
        let http = builder
            .build()
            .map_err(|e| KmsError::Config(format!("cannot build http client: {e}")))?;
        Ok(Self {
            host: endpoint::host_header(&base),
            base,
            http,
            config: Arc::new(config),
            credentials,
        })
    }

    /// The endpoint's base URL.
    pub fn endpoint(&self) -> &Url {
        &self.base
    }

    /// Calls `action` with `params`, retrying per the policy, and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: Params,
    ) -> Result<T> {
        let max = self.config.retry.max_attempts.max(1);
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(action, &params).await;
            match outcome {
                Err(err) if err.is_retryable() && attempt < max => {
                    tokio::time::sleep(self.config.retry.backoff(attempt)).await;
                    attempt += 1;
                }
                Err(KmsError::Throttled { api, .. }) => {
                    return Err(KmsError::Throttled {
                        api,
                        attempts: attempt,
                    });
                }
                Err(KmsError::Transport {
                    operation,
                    host,
                    detail,
                    ..
                }) => {
                    return Err(KmsError::Transport {
                        operation,
                        host,
                        attempts: attempt,
                        detail,
                    });
                }
                other => return other,
            }
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        action: &'static str,
        params: &Params,
    ) -> Result<T> {
        let creds = self
            .credentials
            .fetch()
            .await
            .map_err(|source| KmsError::Credentials {
                operation: action,
                source,
            })?;
        let now = OffsetDateTime::now_utc() + self.config.clock_offset;
        let request = self.signed_request(action, params, &creds, now);
        let transport = |e: reqwest::Error| KmsError::Transport {
            operation: action,
            host: self.host.clone(),
            attempts: 1,
            detail: describe_transport(&e),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return serde_json::from_slice(&body).map_err(|e| KmsError::MalformedResponse {
                operation: action,
                http_status: status,
                detail: format!(
                    "{action} response is not the expected json ({} bytes): {e}",
                    body.len()
                ),
            });
        }
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct ErrorBody {
            code: String,
            #[serde(default)]
            message: String,
            #[serde(default)]
            request_id: Option<String>,
        }
        match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(e) => Err(KmsError::from_api(ApiError {
                operation: action,
                http_status: status,
                code: e.code,
                message: e.message,
                request_id: e.request_id,
            })),
            // A proxy or load balancer may answer 5xx/429 without KMS's JSON; still retryable.
            Err(_) if status >= 500 || status == 429 => Err(KmsError::from_api(ApiError {
                operation: action,
                http_status: status,
                code: format!("Http{status}"),
                message: format!("http {status} without a kms error body"),
                request_id: None,
            })),
            Err(e) => Err(KmsError::MalformedResponse {
                operation: action,
                http_status: status,
                detail: format!(
                    "error response is not kms error json ({} bytes): {e}",
                    body.len()
                ),
            }),
        }
    }

    /// Builds the signed request for one attempt (fresh nonce and timestamp every time).
    pub fn signed_request(
        &self,
        action: &str,
        params: &Params,
        creds: &Credentials,
        now: OffsetDateTime,
    ) -> reqwest::RequestBuilder {
        let timestamp = signature::format_timestamp(now);
        let nonce = signature::new_nonce();
        let mut url = self.base.clone();
        match self.config.signature {
            SignatureMethod::Acs3HmacSha256 => {
                let payload_hash = signature::sha256_hex(b"");
                let mut headers: Params = vec![
                    p("host", self.host.clone()),
                    p("x-acs-action", action),
                    p("x-acs-version", API_VERSION),
                    p("x-acs-date", timestamp),
                    p("x-acs-signature-nonce", nonce),
                    p("x-acs-content-sha256", payload_hash.clone()),
                    p("accept", "application/json"),
                ];
                if let Some(token) = &creds.security_token {
                    headers.push(p("x-acs-security-token", token.expose()));
                }
                let authorization = signature::Acs3Request {
                    method: "POST",
                    path: "/",
                    query: params,
                    headers: &headers,
                    hashed_payload: &payload_hash,
                }
                .authorization(&creds.access_key_id, creds.access_key_secret.expose());
                if !params.is_empty() {
                    url.set_query(Some(&signature::canonical_query(params)));
                }
                let mut request = self.http.post(url);
                for (name, value) in headers {
                    request = request.header(name, value);
                }
                request.header("authorization", authorization)
            }
            SignatureMethod::RpcHmacSha1 => {
                let mut all = params.clone();
                all.extend([
                    p("Action", action),
                    p("Version", API_VERSION),
                    p("Format", "JSON"),
                    p("Timestamp", timestamp),
                    p("SignatureNonce", nonce),
                    p("SignatureMethod", "HMAC-SHA1"),
                    p("SignatureVersion", "1.0"),
                    p("AccessKeyId", creds.access_key_id.clone()),
                ]);
                if let Some(token) = &creds.security_token {
                    all.push(p("SecurityToken", token.expose()));
                }
                let to_sign = signature::rpc_string_to_sign("POST", &all);
                all.push(p(
                    "Signature",
                    signature::rpc_signature(creds.access_key_secret.expose(), &to_sign),
                ));
                url.set_query(Some(&signature::canonical_query(&all)));
                self.http
                    .post(url)
                    .header("host", self.host.clone())
                    .header("accept", "application/json")
            }
        }
    }

    /// DescribeKey; `key` is a key id, `alias/<name>` or an ARN.
    pub async fn describe_key(&self, key: &str) -> Result<DescribeKeyResponse> {
        self.call("DescribeKey", vec![p("KeyId", key)]).await
    }

    /// DescribeKey as state-model facts.
    pub async fn key_facts(&self, key: &str) -> Result<KeyFacts> {
        Ok(KeyFacts::from(self.describe_key(key).await?.key_metadata))
    }

    pub async fn list_key_versions(
        &self,
        key: &str,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListKeyVersionsResponse> {
        self.call(
            "ListKeyVersions",
            vec![
                p("KeyId", key),
                p("PageNumber", page_number.to_string()),
                p("PageSize", page_size.to_string()),
            ],
        )
        .await
    }

    /// Every version of a key, paging 100 at a time (a region holds at most 10,000 versions).
    pub async fn all_key_versions(&self, key: &str) -> Result<Vec<KeyVersion>> {
        let mut versions = Vec::new();
        for page in 1..=100 {
            let r = self.list_key_versions(key, page, 100).await?;
            let got = r.key_versions.key_version.len();
            versions.extend(r.key_versions.key_version);
            if got == 0 || versions.len() >= r.total_count as usize {
                break;
            }
        }
        Ok(versions)
    }

    pub async fn describe_key_version(
        &self,
        key: &str,
        version: &str,
    ) -> Result<DescribeKeyVersionResponse> {
        self.call(
            "DescribeKeyVersion",
            vec![p("KeyId", key), p("KeyVersionId", version)],
        )
        .await
    }

    fn context_param(params: &mut Params, context: Option<&BTreeMap<String, String>>) {
        if let Some(ctx) = context.filter(|c| !c.is_empty()) {
            params.push(p(
                "EncryptionContext",
                serde_json::to_string(ctx).unwrap_or_default(),
            ));
        }
    }

    /// Encrypt with the key's primary version; the plaintext is sent base64-encoded.
    pub async fn encrypt(
        &self,
        key: &str,
        plaintext: &[u8],
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<EncryptResponse> {
        let mut params = vec![
            p("KeyId", key),
            p(
                "Plaintext",
                base64::engine::general_purpose::STANDARD.encode(plaintext),
            ),
        ];
        Self::context_param(&mut params, context);
        self.call("Encrypt", params).await
    }

    fn decode_plaintext(action: &'static str, text: &str) -> Result<SecretBytes> {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map(SecretBytes)
            .map_err(|e| KmsError::MalformedResponse {
                operation: action,
                http_status: 200,
                detail: format!("Plaintext is not base64: {e}"),
            })
    }

    /// Decrypt; the blob identifies its key and version, so no key id is sent.
    pub async fn decrypt(
        &self,
        ciphertext_blob: &str,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<Decrypted> {
        let mut params = vec![p("CiphertextBlob", ciphertext_blob)];
        Self::context_param(&mut params, context);
        let r: responses::PlaintextResponse = self.call("Decrypt", params).await?;
        Ok(Decrypted {
            plaintext: Self::decode_plaintext("Decrypt", &r.plaintext)?,
            request_id: r.request_id,
            key_id: r.key_id,
            key_version_id: r.key_version_id,
        })
    }

    /// GenerateDataKey of `number_of_bytes` (1–1024) random bytes.
    pub async fn generate_data_key(
        &self,
        key: &str,
        number_of_bytes: u32,
        context: Option<&BTreeMap<String, String>>,
    ) -> Result<DataKey> {
        let mut params = vec![
            p("KeyId", key),
            p("NumberOfBytes", number_of_bytes.to_string()),
        ];
        Self::context_param(&mut params, context);
        let r: responses::PlaintextResponse = self.call("GenerateDataKey", params).await?;
        Ok(DataKey {
            plaintext: Self::decode_plaintext("GenerateDataKey", &r.plaintext)?,
            request_id: r.request_id,
            key_id: r.key_id,
            key_version_id: r.key_version_id,
            ciphertext_blob: r.ciphertext_blob,
        })
    }

    pub async fn create_key(&self, request: &CreateKeyRequest) -> Result<CreateKeyResponse> {
        let mut params = vec![
            p("KeySpec", request.key_spec.clone()),
            p("KeyUsage", request.key_usage.clone()),
            p("ProtectionLevel", request.protection_level.clone()),
            p("Origin", request.origin.clone()),
        ];
        if !request.description.is_empty() {
            params.push(p("Description", request.description.clone()));
        }
        if let Some(interval) = &request.rotation_interval {
            params.push(p("EnableAutomaticRotation", "true"));
            params.push(p("RotationInterval", interval.clone()));
        }
        self.call("CreateKey", params).await
    }

    /// CreateAlias; `alias` must start with `alias/`.
    pub async fn create_alias(&self, alias: &str, key_id: &str) -> Result<Acknowledged> {
        self.call(
            "CreateAlias",
            vec![p("AliasName", alias), p("KeyId", key_id)],
        )
        .await
    }

    pub async fn list_aliases(
        &self,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListAliasesResponse> {
        self.call(
            "ListAliases",
            vec![
                p("PageNumber", page_number.to_string()),
                p("PageSize", page_size.to_string()),
            ],
        )
        .await
    }

    pub async fn enable_key(&self, key: &str) -> Result<Acknowledged> {
        self.call("EnableKey", vec![p("KeyId", key)]).await
    }

    pub async fn disable_key(&self, key: &str) -> Result<Acknowledged> {
        self.call("DisableKey", vec![p("KeyId", key)]).await
    }

    /// ScheduleKeyDeletion after `pending_window_in_days` (7–366).
    pub async fn schedule_key_deletion(
        &self,
        key: &str,
        pending_window_in_days: u32,
    ) -> Result<Acknowledged> {
        self.call(
            "ScheduleKeyDeletion",
            vec![
                p("KeyId", key),
                p("PendingWindowInDays", pending_window_in_days.to_string()),
            ],
        )
        .await
    }

    pub async fn cancel_key_deletion(&self, key: &str) -> Result<Acknowledged> {
        self.call("CancelKeyDeletion", vec![p("KeyId", key)]).await
    }

    /// UpdateRotationPolicy; `interval` (e.g. `"365d"` or `"31536000s"`) is required to enable.
    pub async fn update_rotation_policy(
        &self,
        key: &str,
        enable: bool,
        interval: Option<&str>,
    ) -> Result<Acknowledged> {
        let mut params = vec![
            p("KeyId", key),
            p("EnableAutomaticRotation", enable.to_string()),
        ];
        if let Some(interval) = interval {
            params.push(p("RotationInterval", interval));
        }
        self.call("UpdateRotationPolicy", params).await
    }

    /// SetDeletionProtection on the key's ARN.
    pub async fn set_deletion_protection(
        &self,
        key_arn: &str,
        enable: bool,
        description: Option<&str>,
    ) -> Result<Acknowledged> {
        let mut params = vec![
            p("ProtectedResourceArn", key_arn),
            p("EnableDeletionProtection", enable.to_string()),
        ];
        if let Some(d) = description {
            params.push(p("DeletionProtectionDescription", d));
        }
        self.call("SetDeletionProtection", params).await
    }
}
