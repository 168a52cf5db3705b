//! Gathers what `secretkms_core::rotation_reach` decides on, for `status` and `rewrite`: the
//! `/metrics` of every apiserver the kubeconfig and `--apiserver` reach, and what KMS (or the
//! operator) says about the key. A URL behind a load balancer shows one apiserver per request,
//! so it is read a few times and the apiservers are told apart by `apiserver_id_hash`.

use anyhow::Context as _;
use clap::Args;
use kube::Client;
use secretkms_core::apiserver_metrics;
use secretkms_core::rotation_reach::{
    ApiserverView, KeyKnowledge, Moves, Reach, Rewritten, StoredKeyId, decide,
};
use secretkms_model::KeyFacts;
use serde::Serialize;

use crate::causes::folded;
use crate::kube_args::KubeArgs;
use crate::rotation_time;

/// Reads of the kubeconfig's URL, so a load balancer shows more than one apiserver.
const SCRAPES: usize = 3;

/// The reach of a rewrite, as `rotation_reach` decided it, for `status` and `rewrite` reports.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReachReport {
    #[serde(flatten)]
    pub reach: Reach,
    pub moves: Moves,
    pub rewritten: Rewritten,
    pub explanation: String,
}

impl From<Reach> for ReachReport {
    fn from(reach: Reach) -> Self {
        Self {
            moves: reach.moves(),
            rewritten: reach.rewritten(),
            explanation: reach.explain(),
            reach,
        }
    }
}

/// `--apiserver`: more apiservers to read `/metrics` from.
#[derive(Debug, Clone, Default, Args)]
pub struct ApiserverArgs {
    /// Another apiserver URL to read /metrics from, with the kubeconfig's credentials
    /// (repeatable). With several apiservers behind one load balancer, name each one so that
    /// every apiserver's key_id is checked.
    #[arg(long = "apiserver", value_name = "URL")]
    pub apiservers: Vec<String>,
}

/// One view per apiserver seen through `client` and every `--apiserver` URL.
pub async fn scrape(
    client: &Client,
    kube: &KubeArgs,
    args: &ApiserverArgs,
) -> anyhow::Result<Vec<ApiserverView>> {
    let mut views = Vec::new();
    for _ in 0..SCRAPES {
        views.push(
            view(client)
                .await
                .context("cannot read the apiserver's /metrics")?,
        );
    }
    for url in &args.apiservers {
        let mut config = kube.config(true).await?;
        config.cluster_url = url
            .parse()
            .with_context(|| format!("invalid --apiserver {url:?}"))?;
        let other = Client::try_from(config)
            .map_err(folded)
            .with_context(|| format!("cannot build a client for --apiserver {url}"))?;
        views.push(
            view(&other)
                .await
                .with_context(|| format!("cannot read /metrics of --apiserver {url}"))?,
        );
    }
    Ok(ApiserverView::merge(views))
}

async fn view(client: &Client) -> anyhow::Result<ApiserverView> {
    let req = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(req).await.map_err(folded)?;
    Ok(ApiserverView::from_samples(&apiserver_metrics::parse(
        &text,
        ApiserverView::wants,
    )))
}

/// What is known of the key: KMS's facts, the operator's `--expect-key-id`, the rotation time
/// (KMS's last rotation, else `time`) and the key_ids stored envelopes name.
pub fn knowledge(
    facts: Option<&KeyFacts>,
    expect_key_id: Option<&str>,
    time: Option<&str>,
    stored: Vec<StoredKeyId>,
) -> KeyKnowledge {
    let mut known = facts.map(KeyKnowledge::from_facts).unwrap_or_default();
    if known.rotated_at.is_none() {
        known.rotated_at = time
            .and_then(rotation_time::parse_compact)
            .map(|t| t.unix_timestamp() as f64);
    }
    KeyKnowledge {
        expect_key_id: expect_key_id.map(str::to_string),
        stored,
        ..known
    }
}

/// The reach, or why the metrics could not be read.
pub async fn reach(
    client: &Client,
    kube: &KubeArgs,
    args: &ApiserverArgs,
    key: &KeyKnowledge,
) -> anyhow::Result<Reach> {
    Ok(decide(&scrape(client, kube, args).await?, key))
}
