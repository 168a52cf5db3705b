//! The process environment as a value, and the AccessKey-from-environment provider. Taking the
//! environment as a value keeps the chain testable without mutating process-global state.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{BoxFuture, Credentials, CredentialsError, CredentialsProvider, Result, SecretString};

/// A snapshot of environment variables.
#[derive(Clone, Default)]
pub struct Environment {
    vars: HashMap<String, String>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values may be secrets; names are enough to debug the chain.
        let mut names: Vec<&String> = self.vars.keys().collect();
        names.sort();
        f.debug_struct("Environment")
            .field("names", &names)
            .finish()
    }
}

impl Environment {
    /// The current process environment.
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars().collect(),
        }
    }

    /// An explicit set of variables (tests, embedding).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// A non-empty value, trimmed of surrounding whitespace.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first non-empty value among `names` (aliases such as `ALIBABACLOUD_*`).
    pub fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    /// True for `true`/`1`/`yes` (any case).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes"))
    }

    /// `$HOME`, where `~/.aliyun/config.json` lives.
    pub fn home(&self) -> Option<PathBuf> {
        self.get("HOME").map(PathBuf::from)
    }
}

pub(crate) const ACCESS_KEY_ID: &str = "ALIBABA_CLOUD_ACCESS_KEY_ID";
pub(crate) const ACCESS_KEY_SECRET: &str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET";
pub(crate) const SECURITY_TOKEN: &str = "ALIBABA_CLOUD_SECURITY_TOKEN";

/// `ALIBABA_CLOUD_ACCESS_KEY_ID` / `_SECRET` (+ `ALIBABA_CLOUD_SECURITY_TOKEN`).
#[derive(Debug, Clone)]
pub struct EnvProvider {
    env: Environment,
}

impl EnvProvider {
    pub fn new(env: Environment) -> Self {
        Self { env }
    }

    /// Reads the variables; `NotConfigured` when the id is unset, `Invalid` when half set.
    pub fn read(&self) -> Result<Credentials> {
        const NAME: &str = "environment";
        let Some(id) = self.env.get(ACCESS_KEY_ID) else {
            return Err(CredentialsError::NotConfigured {
                source_name: NAME,
                detail: format!("{ACCESS_KEY_ID} is not set"),
            });
        };
        let Some(secret) = self.env.get(ACCESS_KEY_SECRET) else {
            return Err(CredentialsError::Invalid {
                source_name: NAME,
                detail: format!(
                    "{ACCESS_KEY_ID} is set but {ACCESS_KEY_SECRET} is empty; set both"
                ),
            });
        };
        let mut creds = Credentials::access_key(id, secret, NAME);
        creds.security_token = self.env.get(SECURITY_TOKEN).map(SecretString::new);
        Ok(creds)
    }
}

impl CredentialsProvider for EnvProvider {
    fn name(&self) -> String {
        "environment".into()
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        let result = self.read();
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_access_key_and_token() {
        let env = Environment::from_pairs([
            (ACCESS_KEY_ID, "LTAI1"),
            (ACCESS_KEY_SECRET, "secret"),
            (SECURITY_TOKEN, "tok"),
        ]);
        let creds = EnvProvider::new(env).read().unwrap();
        assert_eq!(creds.access_key_id, "LTAI1");
        assert_eq!(creds.access_key_secret.expose(), "secret");
        assert_eq!(creds.security_token.unwrap().expose(), "tok");
    }

    #[test]
    fn half_set_names_the_missing_variable() {
        let env = Environment::from_pairs([(ACCESS_KEY_ID, "LTAI1"), (ACCESS_KEY_SECRET, " ")]);
        let err = EnvProvider::new(env).read().unwrap_err().to_string();
        assert!(err.contains(ACCESS_KEY_SECRET), "{err}");
    }
}
