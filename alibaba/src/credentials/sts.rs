//! Calls to Alibaba Cloud STS (2015-04-01): `AssumeRoleWithOIDC` (unsigned, for RRSA) and
//! `AssumeRole` (HMAC-SHA1 signed, for `RamRoleArn` profiles).

use std::time::Duration;

use serde::Deserialize;
use time::OffsetDateTime;
use url::Url;

use super::environment::Environment;
use super::{BoxFuture, Credentials, CredentialsError, CredentialsProvider, Result, SecretString};
use crate::openapi::endpoint::require_secure_or_loopback;
use crate::openapi::{redact, signature};

const STS_VERSION: &str = "2015-04-01";

/// Where STS is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsEndpoint(Url);

impl StsEndpoint {
    /// `https://sts.aliyuncs.com/`, the SDKs' default.
    pub fn global() -> Self {
        Self(Url::parse("https://sts.aliyuncs.com/").expect("static url"))
    }

    /// A host (`sts.cn-hangzhou.aliyuncs.com`) or URL (`http://127.0.0.1:8080`); plain http is
    /// accepted only for loopback hosts.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let text = text.trim();
        let url = if text.contains("://") {
            Url::parse(text).map_err(|e| format!("invalid sts endpoint {text:?}: {e}"))?
        } else {
            Url::parse(&format!("https://{text}/"))
                .map_err(|e| format!("invalid sts endpoint {text:?}: {e}"))?
        };
        require_secure_or_loopback(&url)?;
        Ok(Self(url))
    }

    /// The SDKs' rule: `ALIBABA_CLOUD_STS_ENDPOINT`, else `sts[-vpc].<ALIBABA_CLOUD_STS_REGION>`
    /// (VPC when `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`), else the global endpoint.
    pub fn from_env(
        env: &Environment,
        profile_region: Option<&str>,
    ) -> std::result::Result<Self, String> {
        if let Some(endpoint) = env.get("ALIBABA_CLOUD_STS_ENDPOINT") {
            return Self::parse(endpoint);
        }
        let region = env.get("ALIBABA_CLOUD_STS_REGION").or(profile_region);
        match region {
            Some(region) if env.flag("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED") => {
                Self::parse(&format!("sts-vpc.{region}.aliyuncs.com"))
            }
            Some(region) => Self::parse(&format!("sts.{region}.aliyuncs.com")),
            None => Ok(Self::global()),
        }
    }

    pub fn url(&self) -> &Url {
        &self.0
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsResponse {
    credentials: Option<StsCredentials>,
    code: Option<String>,
    message: Option<String>,
}

/// Sends one STS request and turns the answer into credentials. `secrets` are what the request
/// carries (the signing secret, a security token, the signature, an OIDC token): STS may quote
/// the request back, so its messages are scrubbed of them.
pub(crate) async fn call(
    http: &reqwest::Client,
    endpoint: &StsEndpoint,
    source_name: &'static str,
    action: &'static str,
    query: Vec<(String, String)>,
    form: Vec<(String, String)>,
    secrets: &[&str],
) -> Result<Credentials> {
    let url = endpoint.url();
    let mut target = url.clone();
    target.set_query(Some(&signature::canonical_query(&query)));
    let mut request = http.post(target);
    if !form.is_empty() {
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    signature::percent_encode(k),
                    signature::percent_encode(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        request = request
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| CredentialsError::http(source_name, url, e))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| CredentialsError::http(source_name, url, e))?;
    parse_answer(source_name, action, url, status.as_u16(), &body, secrets)
}

/// Turns one STS answer (`status`, `body`) from `url` into credentials, or the error it
/// reports with its messages scrubbed of `secrets`. Public for the fuzz target
/// (fuzz/fuzz_targets/alibaba_answers.rs), which feeds it arbitrary bodies.
pub fn parse_answer(
    source_name: &'static str,
    action: &'static str,
    url: &Url,
    status: u16,
    body: &[u8],
    secrets: &[&str],
) -> Result<Credentials> {
    let success = (200..300).contains(&status);
    // As reqwest shows it ("403 Forbidden"), where it is a valid status.
    let status = reqwest::StatusCode::from_u16(status)
        .map(|s| s.to_string())
        .unwrap_or_else(|_| status.to_string());
    let parsed: StsResponse = serde_json::from_slice(body).map_err(|e| {
        CredentialsError::answer(
            source_name,
            url,
            format!(
                "sts {action} returned http {status} with a body that is not sts json: {}",
                redact::json_error(&e)
            ),
        )
    })?;
    match parsed.credentials {
        Some(c) if success => {
            let expiration = signature::parse_timestamp(&c.expiration).ok_or_else(|| {
                CredentialsError::answer(
                    source_name,
                    url,
                    format!(
                        "sts {action} returned an unparsable Expiration {:?}",
                        c.expiration
                    ),
                )
            })?;
            Ok(Credentials {
                access_key_id: c.access_key_id,
                access_key_secret: SecretString::new(c.access_key_secret),
                security_token: Some(SecretString::new(c.security_token)),
                expiration: Some(expiration),
                source: source_name,
            })
        }
        _ => Err(CredentialsError::Sts {
            source_name,
            action,
            code: redact::scrub(
                &parsed.code.unwrap_or_else(|| format!("http {status}")),
                secrets,
            ),
            message: redact::scrub(&parsed.message.unwrap_or_default(), secrets),
        }),
    }
}

pub(crate) fn default_session_name() -> String {
    format!(
        "secretkms-{}",
        OffsetDateTime::now_utc().unix_timestamp_nanos() / 1000
    )
}

/// `AssumeRole` with credentials from another provider (`RamRoleArn` profiles).
#[derive(Debug)]
pub struct RamRoleArnProvider {
    pub(crate) source_credentials: Box<dyn CredentialsProvider>,
    pub(crate) role_arn: String,
    pub(crate) session_name: String,
    pub(crate) duration: Duration,
    pub(crate) external_id: Option<String>,
    pub(crate) endpoint: StsEndpoint,
    pub(crate) http: reqwest::Client,
}

impl RamRoleArnProvider {
    pub fn new(
        source_credentials: Box<dyn CredentialsProvider>,
        role_arn: impl Into<String>,
        endpoint: StsEndpoint,
    ) -> Result<Self> {
        Ok(Self {
            source_credentials,
            role_arn: role_arn.into(),
            session_name: default_session_name(),
            duration: Duration::from_secs(3600),
            external_id: None,
            endpoint,
            http: super::http_client(Duration::from_secs(10))?,
        })
    }

    async fn assume(&self) -> Result<Credentials> {
        let source = self.source_credentials.fetch().await?;
        let mut params: Vec<(String, String)> = vec![
            ("Action".into(), "AssumeRole".into()),
            ("Version".into(), STS_VERSION.into()),
            ("Format".into(), "JSON".into()),
            (
                "Timestamp".into(),
                signature::format_timestamp(OffsetDateTime::now_utc()),
            ),
            ("SignatureNonce".into(), signature::new_nonce()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureVersion".into(), "1.0".into()),
            ("AccessKeyId".into(), source.access_key_id.clone()),
            ("RoleArn".into(), self.role_arn.clone()),
            ("RoleSessionName".into(), self.session_name.clone()),
            (
                "DurationSeconds".into(),
                self.duration.as_secs().to_string(),
            ),
        ];
        if let Some(token) = &source.security_token {
            params.push(("SecurityToken".into(), token.expose().to_string()));
        }
        if let Some(external_id) = &self.external_id {
            params.push(("ExternalId".into(), external_id.clone()));
        }
        let to_sign = signature::rpc_string_to_sign("POST", &params);
        let signed = signature::rpc_signature(source.access_key_secret.expose(), &to_sign);
        params.push(("Signature".into(), signed.clone()));
        let secrets = [
            Some(source.access_key_secret.expose()),
            source.security_token.as_ref().map(|t| t.expose()),
            Some(signed.as_str()),
        ];
        let secrets: Vec<&str> = secrets.into_iter().flatten().collect();
        call(
            &self.http,
            &self.endpoint,
            "ram-role-arn",
            "AssumeRole",
            params,
            Vec::new(),
            &secrets,
        )
        .await
    }
}

impl CredentialsProvider for RamRoleArnProvider {
    fn name(&self) -> String {
        format!("ram-role-arn({})", self.role_arn)
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.assume())
    }
}

pub(crate) fn oidc_query() -> Vec<(String, String)> {
    vec![
        ("Action".into(), "AssumeRoleWithOIDC".into()),
        ("Version".into(), STS_VERSION.into()),
        ("Format".into(), "JSON".into()),
        (
            "Timestamp".into(),
            signature::format_timestamp(OffsetDateTime::now_utc()),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_follows_the_sdk_rules() {
        let env = Environment::from_pairs([("ALIBABA_CLOUD_STS_REGION", "cn-beijing")]);
        assert_eq!(
            StsEndpoint::from_env(&env, None).unwrap().url().as_str(),
            "https://sts.cn-beijing.aliyuncs.com/"
        );
        let env = Environment::from_pairs([
            ("ALIBABA_CLOUD_STS_REGION", "cn-beijing"),
            ("ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED", "true"),
        ]);
        assert_eq!(
            StsEndpoint::from_env(&env, None).unwrap().url().as_str(),
            "https://sts-vpc.cn-beijing.aliyuncs.com/"
        );
        assert_eq!(
            StsEndpoint::from_env(&Environment::default(), None).unwrap(),
            StsEndpoint::global()
        );
        let env = Environment::from_pairs([("ALIBABA_CLOUD_STS_ENDPOINT", "http://example.com")]);
        assert!(
            StsEndpoint::from_env(&env, None)
                .unwrap_err()
                .contains("example.com")
        );
        let env = Environment::from_pairs([("ALIBABA_CLOUD_STS_ENDPOINT", "http://127.0.0.1:9")]);
        assert!(StsEndpoint::from_env(&env, None).is_ok());
    }
}
