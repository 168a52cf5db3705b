//! Reaching the Alibaba Cloud APIs around KMS that ACK's flows need — STS (who am I), RAM (the
//! role and policies), ActionTrail (who called KMS), BSS (the balance) and CS (the cluster) —
//! with the same credential chain as KMS. Each service's public endpoint by default;
//! `--alibaba-endpoint` sends them all to one URL instead (the local emulator, a proxy).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use reqwest::Url;
use secretkms_alibaba::actiontrail::{self, ActionTrailClient};
use secretkms_alibaba::bss::{self, BssClient};
use secretkms_alibaba::credentials::{CredentialsProvider, DefaultChain, Environment};
use secretkms_alibaba::cs::{self, CsClient};
use secretkms_alibaba::openapi::ClientConfig;
use secretkms_alibaba::ram::{self, RamClient};
use secretkms_alibaba::sts::{self, StsClient};

/// `--alibaba-endpoint`, `--alibaba-ca`.
#[derive(Debug, Clone, Default, Args)]
pub struct CloudArgs {
    /// One URL for STS, RAM, ActionTrail, BSS and CS (e.g. the local emulator), instead of each
    /// service's public endpoint for the cluster's region.
    #[arg(long, env = "SECRETKMS_ALIBABA_ENDPOINT", value_name = "URL")]
    pub alibaba_endpoint: Option<Url>,
    /// PEM CA bundle for an https `--alibaba-endpoint` with a private CA.
    #[arg(long, value_name = "PATH")]
    pub alibaba_ca: Option<PathBuf>,
    /// The account is an international one: BSS at business.ap-southeast-1.aliyuncs.com.
    #[arg(long)]
    pub international: bool,
}

/// The clients of one region, sharing one credential chain.
#[derive(Debug, Clone)]
pub struct Cloud {
    pub region: String,
    pub sts: StsClient,
    pub ram: RamClient,
    pub actiontrail: ActionTrailClient,
    pub bss: BssClient,
    pub cs: CsClient,
}

impl CloudArgs {
    /// Every client for `region`.
    pub fn connect(&self, region: &str) -> anyhow::Result<Cloud> {
        let credentials: Arc<dyn CredentialsProvider> =
            Arc::new(DefaultChain::cached(&Environment::from_process()));
        let ca = match &self.alibaba_ca {
            Some(path) => Some(
                std::fs::read(path)
                    .with_context(|| format!("cannot read --alibaba-ca {}", path.display()))?,
            ),
            None => None,
        };
        let custom = self.alibaba_endpoint.clone();
        let region = region.to_string();
        let sts_endpoint = custom.clone().map_or_else(
            || sts::Endpoint::Public {
                region: region.clone(),
            },
            sts::Endpoint::Custom,
        );
        let ram_endpoint = custom
            .clone()
            .map_or(ram::Endpoint::Global, ram::Endpoint::Custom);
        let trail_endpoint = custom.clone().map_or_else(
            || actiontrail::Endpoint::Region(region.clone()),
            actiontrail::Endpoint::Custom,
        );
        let bss_endpoint = match &custom {
            Some(url) => bss::Endpoint::Custom(url.clone()),
            None if self.international => bss::Endpoint::International,
            None => bss::Endpoint::China,
        };
        let cs_endpoint = custom.map_or_else(
            || cs::Endpoint::Regional {
                region: region.clone(),
            },
            cs::Endpoint::Custom,
        );
        Ok(Cloud {
            sts: StsClient::new(config(sts_endpoint, &ca), credentials.clone())
                .context("cannot build the STS client")?,
            ram: RamClient::new(config(ram_endpoint, &ca), credentials.clone())
                .context("cannot build the RAM client")?,
            actiontrail: ActionTrailClient::new(config(trail_endpoint, &ca), credentials.clone())
                .context("cannot build the ActionTrail client")?,
            bss: BssClient::new(config(bss_endpoint, &ca), credentials.clone())
                .context("cannot build the BSS client")?,
            cs: CsClient::new(config(cs_endpoint, &ca), credentials)
                .context("cannot build the CS client")?,
            region,
        })
    }
}

fn config<E>(endpoint: E, ca: &Option<Vec<u8>>) -> ClientConfig<E> {
    let mut config = ClientConfig::new(endpoint);
    config.ca_pem = ca.clone();
    config
}
