//! The default credential chain in the official SDKs' order: environment → RRSA/OIDC → CLI
//! profile → ECS RAM role. The first source that answers is remembered and used from then on,
//! as credentials-go does, so a later outage of that source is reported rather than hidden by
//! silently switching identities.

use std::sync::Mutex;

use super::ecs::EcsRamRoleProvider;
use super::environment::{EnvProvider, Environment};
use super::oidc::OidcProvider;
use super::profile::ProfileProvider;
use super::{
    BoxFuture, CachedProvider, Credentials, CredentialsError, CredentialsProvider, Result,
};

/// The SDKs' default chain.
#[derive(Debug)]
pub struct DefaultChain {
    providers: Vec<Box<dyn CredentialsProvider>>,
    /// Sources that could not even be set up, reported if nothing else works.
    skipped: Vec<String>,
    last_used: Mutex<Option<usize>>,
}

impl DefaultChain {
    /// Builds the chain from an environment snapshot. `ALIBABA_CLOUD_CLI_PROFILE_DISABLED` and
    /// `ALIBABA_CLOUD_ECS_METADATA_DISABLED` remove those sources.
    pub fn from_env(env: &Environment) -> Self {
        let mut providers: Vec<Box<dyn CredentialsProvider>> =
            vec![Box::new(EnvProvider::new(env.clone()))];
        let mut skipped = Vec::new();
        match OidcProvider::from_env(env) {
            Ok(p) => providers.push(Box::new(p)),
            Err(e) => skipped.push(e.to_string()),
        }
        if env.flag("ALIBABA_CLOUD_CLI_PROFILE_DISABLED") {
            skipped.push("profile: disabled by ALIBABA_CLOUD_CLI_PROFILE_DISABLED".into());
        } else {
            match ProfileProvider::from_env(env) {
                Ok(p) => providers.push(Box::new(p)),
                Err(e) => skipped.push(e.to_string()),
            }
        }
        if env.flag("ALIBABA_CLOUD_ECS_METADATA_DISABLED") {
            skipped.push("ecs-ram-role: disabled by ALIBABA_CLOUD_ECS_METADATA_DISABLED".into());
        } else {
            match EcsRamRoleProvider::from_env(env, None) {
                Ok(p) => providers.push(Box::new(p)),
                Err(e) => skipped.push(e.to_string()),
            }
        }
        Self {
            providers,
            skipped,
            last_used: Mutex::new(None),
        }
    }

    /// The chain wrapped in a refreshing cache; what clients normally use.
    pub fn cached(env: &Environment) -> CachedProvider<Self> {
        CachedProvider::new(Self::from_env(env))
    }

    async fn resolve(&self) -> Result<Credentials> {
        let remembered = *self.last_used.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(index) = remembered {
            return self.providers[index].fetch().await;
        }
        let mut tried = Vec::new();
        for (index, provider) in self.providers.iter().enumerate() {
            match provider.fetch().await {
                Ok(creds) => {
                    *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Some(index);
                    return Ok(creds);
                }
                Err(e) => tried.push(e.to_string()),
            }
        }
        tried.extend(self.skipped.iter().cloned());
        Err(CredentialsError::NotFound { tried })
    }
}

impl CredentialsProvider for DefaultChain {
    fn name(&self) -> String {
        let remembered = *self.last_used.lock().unwrap_or_else(|p| p.into_inner());
        match remembered {
            Some(index) => self.providers[index].name(),
            None => "default-chain".into(),
        }
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.resolve())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn environment_wins_and_nothing_found_lists_every_source() {
        let home = tempfile::tempdir().unwrap();
        let home_s = home.path().display().to_string();
        let env = Environment::from_pairs([
            ("HOME", home_s.as_str()),
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "LTAIenv"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "s"),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
        ]);
        let chain = DefaultChain::from_env(&env);
        assert_eq!(chain.fetch().await.unwrap().source, "environment");
        assert_eq!(chain.name(), "environment");

        let env = Environment::from_pairs([
            ("HOME", home_s.as_str()),
            ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true"),
        ]);
        let err = DefaultChain::from_env(&env)
            .fetch()
            .await
            .unwrap_err()
            .to_string();
        for needle in [
            "ALIBABA_CLOUD_ACCESS_KEY_ID is not set",
            "rrsa:",
            "config.json does not exist",
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED",
        ] {
            assert!(err.contains(needle), "{needle} missing from {err}");
        }
    }
}
