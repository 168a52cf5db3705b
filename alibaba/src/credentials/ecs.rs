//! ECS RAM role credentials from the instance metadata service (credentials-go's
//! `ecs_ram_role.go`): an optional IMDSv2 token, the role name, then the role's STS credentials.

use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::environment::Environment;
use super::{BoxFuture, Credentials, CredentialsError, CredentialsProvider, Result, SecretString};
use crate::openapi::endpoint::require_secure_or_loopback;
use crate::openapi::{redact, signature};

const NAME: &str = "ecs-ram-role";
/// The metadata service of every ECS instance.
pub const DEFAULT_METADATA_ENDPOINT: &str = "http://100.100.100.200";
/// Overrides the metadata endpoint (a secretkms variable, used by tests against the emulator).
pub const METADATA_ENDPOINT_VAR: &str = "SECRETKMS_ECS_METADATA_ENDPOINT";
const CREDENTIALS_PATH: &str = "/latest/meta-data/ram/security-credentials/";

/// Credentials of the RAM role attached to this ECS instance.
#[derive(Debug)]
pub struct EcsRamRoleProvider {
    pub(crate) role_name: Option<String>,
    pub(crate) endpoint: Url,
    pub(crate) imdsv1_disabled: bool,
    pub(crate) http: reqwest::Client,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataCredentials {
    code: String,
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

impl EcsRamRoleProvider {
    /// `role_name` `None` asks the metadata service which role is attached.
    pub fn new(role_name: Option<String>, endpoint: Url) -> Result<Self> {
        Ok(Self {
            role_name,
            endpoint,
            imdsv1_disabled: false,
            // The metadata service answers in milliseconds on ECS; off ECS it never answers, so
            // a short timeout keeps the chain from hanging.
            http: super::http_client(Duration::from_secs(2))?,
        })
    }

    /// Role from `ALIBABA_CLOUD_ECS_METADATA`, endpoint from `SECRETKMS_ECS_METADATA_ENDPOINT`,
    /// IMDSv1 fallback off when `ALIBABA_CLOUD_IMDSV1_DISABLED`.
    pub fn from_env(env: &Environment, role_name: Option<String>) -> Result<Self> {
        let text = env
            .get(METADATA_ENDPOINT_VAR)
            .unwrap_or(DEFAULT_METADATA_ENDPOINT);
        let endpoint = Url::parse(text).map_err(|e| CredentialsError::Invalid {
            source_name: NAME,
            detail: format!("{METADATA_ENDPOINT_VAR}={text:?} is not a url: {e}"),
        })?;
        if text != DEFAULT_METADATA_ENDPOINT {
            require_secure_or_loopback(&endpoint).map_err(|detail| CredentialsError::Invalid {
                source_name: NAME,
                detail,
            })?;
        }
        let role = role_name.or_else(|| env.get("ALIBABA_CLOUD_ECS_METADATA").map(str::to_string));
        let mut provider = Self::new(role, endpoint)?;
        provider.imdsv1_disabled = env.flag("ALIBABA_CLOUD_IMDSV1_DISABLED");
        Ok(provider)
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        url.set_path(path);
        url
    }

    async fn get_text(&self, url: Url, token: Option<&str>) -> Result<String> {
        let mut request = self.http.get(url.clone());
        if let Some(token) = token {
            request = request.header("X-aliyun-ecs-metadata-token", token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| CredentialsError::http(NAME, &url, e))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| CredentialsError::http(NAME, &url, e))?;
        if !status.is_success() {
            return Err(CredentialsError::answer(
                NAME,
                &url,
                format!("metadata service answered http {status}"),
            ));
        }
        Ok(text)
    }

    async fn fetch_credentials(&self) -> Result<Credentials> {
        let token_url = self.url("/latest/api/token");
        let token = match self
            .http
            .put(token_url.clone())
            .header("X-aliyun-ecs-metadata-token-ttl-seconds", "21600")
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Some(
                r.text()
                    .await
                    .map_err(|e| CredentialsError::http(NAME, &token_url, e))?,
            ),
            Ok(r) if self.imdsv1_disabled => {
                return Err(CredentialsError::answer(
                    NAME,
                    &token_url,
                    format!(
                        "imdsv2 token request answered http {} and ALIBABA_CLOUD_IMDSV1_DISABLED is set",
                        r.status()
                    ),
                ));
            }
            Err(e) if self.imdsv1_disabled => {
                return Err(CredentialsError::http(NAME, &token_url, e));
            }
            _ => None,
        };
        let role = match &self.role_name {
            Some(role) => role.clone(),
            None => {
                let listing = self
                    .get_text(self.url(CREDENTIALS_PATH), token.as_deref())
                    .await?;
                listing.lines().next().map(str::trim).filter(|r| !r.is_empty()).map(str::to_string).ok_or_else(|| {
                    CredentialsError::Invalid {
                        source_name: NAME,
                        detail: "no ram role is attached to this instance; attach one or set ALIBABA_CLOUD_ECS_METADATA".into(),
                    }
                })?
            }
        };
        let url = self.url(&format!("{CREDENTIALS_PATH}{role}"));
        let text = self.get_text(url.clone(), token.as_deref()).await?;
        parse_role_credentials(&url, &role, &text)
    }
}

/// The metadata service's answer for `role` (from `url`) as credentials: `Code` must be
/// `Success` and `Expiration` a timestamp. Public for the fuzz target
/// (fuzz/fuzz_targets/alibaba_answers.rs), which feeds it arbitrary text.
pub fn parse_role_credentials(url: &Url, role: &str, text: &str) -> Result<Credentials> {
    let parsed: MetadataCredentials = serde_json::from_str(text).map_err(|e| {
        CredentialsError::answer(
            NAME,
            url,
            format!(
                "credentials of role {role:?} are not valid json: {}",
                redact::json_error(&e)
            ),
        )
    })?;
    if parsed.code != "Success" {
        return Err(CredentialsError::answer(
            NAME,
            url,
            format!(
                "metadata service returned Code {:?} for role {role:?}",
                parsed.code
            ),
        ));
    }
    let expiration = signature::parse_timestamp(&parsed.expiration).ok_or_else(|| {
        CredentialsError::answer(
            NAME,
            url,
            format!("unparsable Expiration {:?}", parsed.expiration),
        )
    })?;
    Ok(Credentials {
        access_key_id: parsed.access_key_id,
        access_key_secret: SecretString::new(parsed.access_key_secret),
        security_token: Some(SecretString::new(parsed.security_token)),
        expiration: Some(expiration),
        source: NAME,
    })
}

impl CredentialsProvider for EcsRamRoleProvider {
    fn name(&self) -> String {
        match &self.role_name {
            Some(role) => format!("{NAME}({role})"),
            None => NAME.into(),
        }
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.fetch_credentials())
    }
}
