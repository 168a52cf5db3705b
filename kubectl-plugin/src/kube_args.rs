//! kubectl's connection flags and the kube client they describe.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use kube::client::{Body, ClientBuilder, DynBody};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::causes::folded;

/// kube's default client stack (its `GenericService`, which kube does not export).
pub type ClientStack =
    tower::util::BoxService<http::Request<Body>, http::Response<Box<DynBody>>, tower::BoxError>;

/// `--kubeconfig`, `--context`, `-n`, `-A`, `-l`, `--request-timeout`, spelled as kubectl does.
#[derive(Debug, Clone, Default, Args)]
pub struct KubeArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace to work in (default: the context's namespace).
    #[arg(short = 'n', long, global = true)]
    pub namespace: Option<String>,
    /// Work across all namespaces.
    #[arg(short = 'A', long, global = true)]
    pub all_namespaces: bool,
    /// Label selector, e.g. `app=db,tier!=cache`.
    #[arg(short = 'l', long, global = true, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// Per-request timeout, e.g. `30s`, `2m`; `0` waits forever (kubectl's default).
    #[arg(long, global = true, value_name = "DURATION", value_parser = secretkms_alibaba::duration::parse)]
    pub request_timeout: Option<Duration>,
}

/// Which Secrets a command covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Namespace(String),
}

impl KubeArgs {
    /// The client config: an explicit `--kubeconfig`, else kubectl's usual search, else the
    /// in-cluster service account. `retry` keeps kube's own 429/503/504 retries (off for callers
    /// that retry themselves, so backoffs do not multiply).
    pub async fn config(&self, retry: bool) -> anyhow::Result<Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..Default::default()
        };
        let mut config = match &self.kubeconfig {
            Some(path) => {
                // kube's read error names the path and the OS error in its message and again
                // as its source; opening the file first reports a missing one plainly.
                std::fs::File::open(path)
                    .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
                let kc = Kubeconfig::read_from(path)
                    .map_err(folded)
                    .with_context(|| format!("invalid kubeconfig {}", path.display()))?;
                Config::from_custom_kubeconfig(kc, &options)
                    .await
                    .map_err(folded)
                    .with_context(|| format!("invalid kubeconfig {}", path.display()))?
            }
            None if self.context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(folded)
                .context("cannot load the kubeconfig")?,
            None => Config::infer()
                .await
                .map_err(folded)
                .context("no kubeconfig found and not running in a cluster")?,
        };
        if let Some(timeout) = self.request_timeout.filter(|t| !t.is_zero()) {
            config.read_timeout = Some(timeout);
            config.write_timeout = Some(timeout);
        }
        config.default_retry = retry;
        Ok(config)
    }

    /// A client plus the namespace `-n` (or the context) names.
    pub async fn client(&self, retry: bool) -> anyhow::Result<(Client, String)> {
        let (builder, namespace) = self.client_builder(retry).await?;
        Ok((builder.build(), namespace))
    }

    /// [`KubeArgs::client`] before it is built, for a caller that adds a layer.
    pub async fn client_builder(
        &self,
        retry: bool,
    ) -> anyhow::Result<(ClientBuilder<ClientStack>, String)> {
        let config = self.config(retry).await?;
        let namespace = self
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let builder = ClientBuilder::try_from(config)
            .map_err(folded)
            .context("cannot build the kube client")?;
        Ok((builder, namespace))
    }

    /// `-A` or the namespace.
    pub fn scope(&self, default_namespace: &str) -> Scope {
        if self.all_namespaces {
            Scope::All
        } else {
            Scope::Namespace(
                self.namespace
                    .clone()
                    .unwrap_or_else(|| default_namespace.to_string()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_namespaces_wins_over_the_namespace() {
        let args = KubeArgs {
            all_namespaces: true,
            namespace: Some("x".into()),
            ..Default::default()
        };
        assert_eq!(args.scope("default"), Scope::All);
        let args = KubeArgs::default();
        assert_eq!(args.scope("ctx-ns"), Scope::Namespace("ctx-ns".into()));
    }
}
