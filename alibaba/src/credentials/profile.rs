//! A profile of the Alibaba Cloud CLI configuration (`~/.aliyun/config.json`), in the modes the
//! SDKs' CLI-profile provider supports: AK, StsToken, RamRoleArn, EcsRamRole and OIDC.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ecs::EcsRamRoleProvider;
use super::environment::Environment;
use super::oidc::OidcProvider;
use super::sts::{RamRoleArnProvider, StsEndpoint};
use super::{
    BoxFuture, Credentials, CredentialsError, CredentialsProvider, Result, SecretString,
    StaticProvider,
};
use crate::openapi::redact;

const NAME: &str = "profile";

#[derive(Deserialize, Default)]
struct ConfigFile {
    #[serde(default)]
    current: String,
    #[serde(default)]
    profiles: Vec<Profile>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Profile {
    name: String,
    mode: String,
    access_key_id: String,
    access_key_secret: String,
    sts_token: String,
    sts_region: String,
    ram_role_name: String,
    ram_role_arn: String,
    ram_session_name: String,
    external_id: String,
    expired_seconds: u64,
    oidc_provider_arn: String,
    oidc_token_file: String,
}

/// Credentials from the selected CLI profile (`ALIBABA_CLOUD_PROFILE`, else `current`).
#[derive(Debug, Clone)]
pub struct ProfileProvider {
    env: Environment,
    path: PathBuf,
}

impl ProfileProvider {
    /// Config path from `ALIBABA_CLOUD_CONFIG_FILE`, else `$HOME/.aliyun/config.json`.
    pub fn from_env(env: &Environment) -> Result<Self> {
        let path = match env.get("ALIBABA_CLOUD_CONFIG_FILE") {
            Some(path) => PathBuf::from(path),
            None => env
                .home()
                .map(|h| h.join(".aliyun").join("config.json"))
                .ok_or_else(|| CredentialsError::NotConfigured {
                    source_name: NAME,
                    detail: "HOME is not set, so ~/.aliyun/config.json cannot be found".into(),
                })?,
        };
        Ok(Self {
            env: env.clone(),
            path,
        })
    }

    fn invalid(&self, detail: String) -> CredentialsError {
        CredentialsError::Invalid {
            source_name: NAME,
            detail: format!("{}: {detail}", self.path.display()),
        }
    }

    /// Reads the file and builds the provider of the selected profile's mode.
    fn resolve(&self) -> Result<Box<dyn CredentialsProvider>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CredentialsError::NotConfigured {
                    source_name: NAME,
                    detail: format!("{} does not exist", self.path.display()),
                });
            }
            Err(error) => {
                return Err(CredentialsError::File {
                    source_name: NAME,
                    path: self.path.clone(),
                    error: error.into(),
                });
            }
        };
        let config: ConfigFile = serde_json::from_str(&text)
            // The file holds AccessKey secrets; serde would quote a misplaced one.
            .map_err(|e| {
                self.invalid(format!(
                    "not a valid cli config: {}",
                    redact::json_error(&e)
                ))
            })?;
        let wanted = self
            .env
            .first(&[
                "ALIBABA_CLOUD_PROFILE",
                "ALIBABACLOUD_PROFILE",
                "ALICLOUD_PROFILE",
            ])
            .map(str::to_string)
            .unwrap_or(config.current.clone());
        let wanted = if wanted.is_empty() {
            "default".to_string()
        } else {
            wanted
        };
        let profile = config
            .profiles
            .into_iter()
            .find(|p| p.name == wanted)
            .ok_or_else(|| {
                self.invalid(format!(
                    "profile {wanted:?} not found; set ALIBABA_CLOUD_PROFILE or \"current\""
                ))
            })?;
        let require = |field: &str, value: &str| -> Result<()> {
            if value.trim().is_empty() {
                Err(self.invalid(format!(
                    "profile {wanted:?} (mode {}) needs {field}",
                    profile.mode
                )))
            } else {
                Ok(())
            }
        };
        let sts_region = Some(profile.sts_region.as_str()).filter(|r| !r.is_empty());
        let sts_endpoint =
            || StsEndpoint::from_env(&self.env, sts_region).map_err(|detail| self.invalid(detail));
        let access_key = |with_token: bool| -> Result<Credentials> {
            require("access_key_id", &profile.access_key_id)?;
            require("access_key_secret", &profile.access_key_secret)?;
            let mut creds =
                Credentials::access_key(&profile.access_key_id, &profile.access_key_secret, NAME);
            if with_token {
                require("sts_token", &profile.sts_token)?;
                creds.security_token = Some(SecretString::new(profile.sts_token.clone()));
            }
            Ok(creds)
        };
        let provider: Box<dyn CredentialsProvider> = match profile.mode.as_str() {
            "AK" | "" => Box::new(StaticProvider(access_key(false)?)),
            "StsToken" => Box::new(StaticProvider(access_key(true)?)),
            "RamRoleArn" => {
                require("ram_role_arn", &profile.ram_role_arn)?;
                let source = Box::new(StaticProvider(access_key(false)?));
                let mut p =
                    RamRoleArnProvider::new(source, &profile.ram_role_arn, sts_endpoint()?)?;
                if !profile.ram_session_name.is_empty() {
                    p.session_name = profile.ram_session_name.clone();
                }
                if profile.expired_seconds > 0 {
                    p.duration = Duration::from_secs(profile.expired_seconds);
                }
                p.external_id = Some(profile.external_id.clone()).filter(|e| !e.is_empty());
                Box::new(p)
            }
            "EcsRamRole" => {
                let role = Some(profile.ram_role_name.clone()).filter(|r| !r.is_empty());
                Box::new(EcsRamRoleProvider::from_env(&self.env, role)?)
            }
            "OIDC" => {
                require("ram_role_arn", &profile.ram_role_arn)?;
                require("oidc_provider_arn", &profile.oidc_provider_arn)?;
                require("oidc_token_file", &profile.oidc_token_file)?;
                let mut p = OidcProvider::new(
                    &profile.ram_role_arn,
                    &profile.oidc_provider_arn,
                    &profile.oidc_token_file,
                    sts_endpoint()?,
                )?;
                p.source_name = "profile-oidc";
                if !profile.ram_session_name.is_empty() {
                    p.session_name = profile.ram_session_name.clone();
                }
                if profile.expired_seconds > 0 {
                    p.duration = Duration::from_secs(profile.expired_seconds);
                }
                Box::new(p)
            }
            other => {
                return Err(self.invalid(format!(
                    "profile {wanted:?} has mode {other:?}, which secretkms does not support; \
                     use AK, StsToken, RamRoleArn, EcsRamRole or OIDC"
                )));
            }
        };
        Ok(provider)
    }
}

impl CredentialsProvider for ProfileProvider {
    fn name(&self) -> String {
        format!("{NAME}({})", self.path.display())
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(async move { self.resolve()?.fetch().await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(home: &std::path::Path, extra: &[(&str, &str)]) -> ProfileProvider {
        let mut pairs = vec![("HOME".to_string(), home.display().to_string())];
        pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        ProfileProvider::from_env(&Environment::from_pairs(pairs)).unwrap()
    }

    fn write_config(home: &std::path::Path, json: &str) {
        std::fs::create_dir_all(home.join(".aliyun")).unwrap();
        std::fs::write(home.join(".aliyun/config.json"), json).unwrap();
    }

    const CONFIG: &str = r#"{"current":"main","profiles":[
        {"name":"main","mode":"AK","access_key_id":"LTAImain","access_key_secret":"s1"},
        {"name":"sts","mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s2","sts_token":"t"},
        {"name":"broken","mode":"StsToken","access_key_id":"STS.x","access_key_secret":"s2"},
        {"name":"sso","mode":"CloudSSO"}],"meta_path":""}"#;

    #[tokio::test]
    async fn current_profile_and_override() {
        let home = tempfile::tempdir().unwrap();
        write_config(home.path(), CONFIG);
        let creds = provider(home.path(), &[]).fetch().await.unwrap();
        assert_eq!(creds.access_key_id, "LTAImain");
        let creds = provider(home.path(), &[("ALIBABA_CLOUD_PROFILE", "sts")])
            .fetch()
            .await
            .unwrap();
        assert_eq!(creds.security_token.unwrap().expose(), "t");
    }

    #[tokio::test]
    async fn errors_name_the_profile_and_field() {
        let home = tempfile::tempdir().unwrap();
        write_config(home.path(), CONFIG);
        let err = provider(home.path(), &[("ALIBABA_CLOUD_PROFILE", "broken")])
            .fetch()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("\"broken\"") && err.to_string().contains("sts_token"),
            "{err}"
        );
        let err = provider(home.path(), &[("ALIBABA_CLOUD_PROFILE", "sso")])
            .fetch()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("CloudSSO"), "{err}");
        let err = provider(home.path(), &[("ALIBABA_CLOUD_PROFILE", "nope")])
            .fetch()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("\"nope\" not found"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let err = provider(empty.path(), &[]).fetch().await.unwrap_err();
        assert!(
            matches!(err, CredentialsError::NotConfigured { .. }),
            "{err}"
        );
    }
}
