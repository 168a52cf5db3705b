//! Reaching the key: which key (a flag or the declared `SecretEncryption`), which KMS endpoint
//! (a flag, the declared endpoint or region, or the key's ARN) and whose credentials (the same
//! chain the webhook uses: environment, profile, RRSA/OIDC, ECS RAM role).

use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use kube::{Api, Client};
use secretkms_alibaba::credentials::{DefaultChain, Environment};
use secretkms_alibaba::kms::{Endpoint, EndpointError, KeyLocation, KmsClient, KmsConfig};
use secretkms_core::secret_encryption::{CLUSTER, SecretEncryption, SecretEncryptionSpec};

use crate::causes::folded;

/// How to reach KMS.
#[derive(Debug, Clone, Default, Args)]
pub struct KmsArgs {
    /// KMS endpoint: `public:<region>`, `vpc:<region>` or a URL (e.g. the local emulator),
    /// overriding the SecretEncryption's endpoint and region.
    #[arg(long, env = "SECRETKMS_KMS_ENDPOINT", value_parser = Endpoint::parse, value_name = "ENDPOINT")]
    pub kms_endpoint: Option<Endpoint>,
    /// Use the VPC endpoint `kms-vpc.<region>.aliyuncs.com` (inside Alibaba Cloud).
    #[arg(long)]
    pub kms_vpc: bool,
    /// PEM CA bundle for an https `--kms-endpoint` with a private CA.
    #[arg(long, value_name = "PATH")]
    pub kms_ca: Option<std::path::PathBuf>,
}

/// The `SecretEncryption` named `cluster`, if the CRD and the object exist.
pub async fn declared(client: &Client) -> anyhow::Result<Option<SecretEncryptionSpec>> {
    let api: Api<SecretEncryption> = Api::all(client.clone());
    match api.get_opt(CLUSTER).await {
        Ok(found) => Ok(found.map(|se| se.spec)),
        // No CRD installed: nothing declared.
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(folded(e)).context("cannot read SecretEncryption/cluster"),
    }
}

impl KmsArgs {
    /// The endpoint for `key`: the flag, else the declared endpoint, else the region (declared,
    /// `region`, or the key's ARN).
    pub fn endpoint(
        &self,
        key: &str,
        region: Option<&str>,
        declared_endpoint: Option<&str>,
    ) -> anyhow::Result<Endpoint> {
        secretkms_alibaba::kms::resolve(&KeyLocation {
            key,
            endpoint: self.kms_endpoint.as_ref(),
            declared_endpoint,
            region,
            vpc: self.kms_vpc,
        })
        .map_err(|e| match e {
            EndpointError::NoRegion { .. } => {
                anyhow::anyhow!("{e}: pass --region, --kms-endpoint or use the key's ARN")
            }
            other => other.into(),
        })
    }

    /// A KMS client for `endpoint` with the webhook's credential chain.
    pub fn client(&self, endpoint: Endpoint) -> anyhow::Result<KmsClient> {
        let mut config = KmsConfig::new(endpoint);
        if let Some(path) = &self.kms_ca {
            config.ca_pem = Some(
                std::fs::read(path)
                    .with_context(|| format!("cannot read --kms-ca {}", path.display()))?,
            );
        }
        let credentials = Arc::new(DefaultChain::cached(&Environment::from_process()));
        KmsClient::new(config, credentials).context("cannot build the KMS client")
    }
}

/// Which key a command works on and where it lives: each flag, else what the `SecretEncryption`
/// declares. Written once for `status`, `rewrite` and `key check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTarget {
    /// Key id, alias or ARN.
    pub key: String,
    /// The cluster's region: the flag, else the declared one.
    pub region: Option<String>,
    /// The declared endpoint URL, which `--kms-endpoint` overrides.
    pub declared_endpoint: Option<String>,
}

impl KeyTarget {
    /// The target of `key` and `region` (flags) over `declared`; None when neither names a key.
    pub fn resolve(
        key: Option<String>,
        region: Option<String>,
        declared: Option<&SecretEncryptionSpec>,
    ) -> Option<Self> {
        let key = key
            .or_else(|| declared.map(|d| d.key.clone()))
            .filter(|k| !k.is_empty())?;
        Some(Self {
            key,
            region: region.or_else(|| declared.and_then(|d| d.region.clone())),
            declared_endpoint: declared.and_then(|d| d.endpoint.clone()),
        })
    }

    /// A KMS client for the endpoint that holds this key.
    pub fn client(&self, kms: &KmsArgs) -> anyhow::Result<KmsClient> {
        let endpoint = kms.endpoint(
            &self.key,
            self.region.as_deref(),
            self.declared_endpoint.as_deref(),
        )?;
        kms.client(endpoint)
    }
}
