//! RRSA (RAM Roles for Service Accounts): the pod's projected OIDC token is exchanged with STS
//! `AssumeRoleWithOIDC` for temporary credentials. The token file is re-read on every exchange
//! because the kubelet rotates it.

use std::path::PathBuf;
use std::time::Duration;

use super::environment::Environment;
use super::sts::{self, StsEndpoint};
use super::{BoxFuture, Credentials, CredentialsError, CredentialsProvider, Result};

pub(crate) const ROLE_ARN: &str = "ALIBABA_CLOUD_ROLE_ARN";
pub(crate) const OIDC_PROVIDER_ARN: &str = "ALIBABA_CLOUD_OIDC_PROVIDER_ARN";
pub(crate) const OIDC_TOKEN_FILE: &str = "ALIBABA_CLOUD_OIDC_TOKEN_FILE";
const SESSION_NAME: &str = "ALIBABA_CLOUD_ROLE_SESSION_NAME";

/// `AssumeRoleWithOIDC` with a token read from a file.
#[derive(Debug)]
pub struct OidcProvider {
    pub(crate) role_arn: String,
    pub(crate) oidc_provider_arn: String,
    pub(crate) token_file: PathBuf,
    pub(crate) session_name: String,
    pub(crate) duration: Duration,
    pub(crate) endpoint: StsEndpoint,
    pub(crate) http: reqwest::Client,
    pub(crate) source_name: &'static str,
}

impl OidcProvider {
    pub fn new(
        role_arn: impl Into<String>,
        oidc_provider_arn: impl Into<String>,
        token_file: impl Into<PathBuf>,
        endpoint: StsEndpoint,
    ) -> Result<Self> {
        Ok(Self {
            role_arn: role_arn.into(),
            oidc_provider_arn: oidc_provider_arn.into(),
            token_file: token_file.into(),
            session_name: sts::default_session_name(),
            duration: Duration::from_secs(3600),
            endpoint,
            http: super::http_client(Duration::from_secs(10))?,
            source_name: "rrsa",
        })
    }

    /// From the three RRSA variables the ack-pod-identity-webhook injects.
    pub fn from_env(env: &Environment) -> Result<Self> {
        const NAME: &str = "rrsa";
        let vars = [
            env.get(ROLE_ARN),
            env.get(OIDC_PROVIDER_ARN),
            env.get(OIDC_TOKEN_FILE),
        ];
        let names = [ROLE_ARN, OIDC_PROVIDER_ARN, OIDC_TOKEN_FILE];
        let missing: Vec<&str> = names
            .iter()
            .zip(&vars)
            .filter(|(_, v)| v.is_none())
            .map(|(n, _)| *n)
            .collect();
        if missing.len() == names.len() {
            return Err(CredentialsError::NotConfigured {
                source_name: NAME,
                detail: format!("{} are not set", names.join(", ")),
            });
        }
        if !missing.is_empty() {
            return Err(CredentialsError::Invalid {
                source_name: NAME,
                detail: format!("partly configured; also set {}", missing.join(", ")),
            });
        }
        let endpoint =
            StsEndpoint::from_env(env, None).map_err(|detail| CredentialsError::Invalid {
                source_name: NAME,
                detail,
            })?;
        let [Some(role), Some(provider), Some(file)] = vars else {
            unreachable!("checked above")
        };
        let mut provider = Self::new(role, provider, file, endpoint)?;
        if let Some(name) = env.get(SESSION_NAME) {
            provider.session_name = name.to_string();
        }
        Ok(provider)
    }

    async fn exchange(&self) -> Result<Credentials> {
        let token = tokio::fs::read_to_string(&self.token_file)
            .await
            .map_err(|error| CredentialsError::File {
                source_name: self.source_name,
                path: self.token_file.clone(),
                error: error.into(),
            })?;
        let token = token.trim();
        if token.is_empty() {
            return Err(CredentialsError::Invalid {
                source_name: self.source_name,
                detail: format!("oidc token file {} is empty", self.token_file.display()),
            });
        }
        let form = vec![
            ("RoleArn".to_string(), self.role_arn.clone()),
            (
                "OIDCProviderArn".to_string(),
                self.oidc_provider_arn.clone(),
            ),
            ("OIDCToken".to_string(), token.to_string()),
            ("RoleSessionName".to_string(), self.session_name.clone()),
            (
                "DurationSeconds".to_string(),
                self.duration.as_secs().max(900).to_string(),
            ),
        ];
        sts::call(
            &self.http,
            &self.endpoint,
            self.source_name,
            "AssumeRoleWithOIDC",
            sts::oidc_query(),
            form,
            &[token],
        )
        .await
    }
}

impl CredentialsProvider for OidcProvider {
    fn name(&self) -> String {
        format!("{}({})", self.source_name, self.role_arn)
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.exchange())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_rrsa_configuration_names_what_is_missing() {
        let env = Environment::from_pairs([(ROLE_ARN, "acs:ram::1:role/r")]);
        let err = OidcProvider::from_env(&env).unwrap_err().to_string();
        assert!(
            err.contains(OIDC_PROVIDER_ARN) && err.contains(OIDC_TOKEN_FILE),
            "{err}"
        );
        let err = OidcProvider::from_env(&Environment::default()).unwrap_err();
        assert!(matches!(err, CredentialsError::NotConfigured { .. }));
    }
}
