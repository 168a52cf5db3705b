//! Reads stored Secrets straight from etcd (self-managed clusters) through etcd's JSON gateway
//! (`POST /v3/kv/range`, served on the client URL), in pages, keeping only the envelope of each.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use clap::Args;
use serde::{Deserialize, Serialize};

use super::envelope::{Envelope, classify};

/// `--etcd-*` flags, spelled as etcdctl and the apiserver spell them.
#[derive(Debug, Clone, Default, Args)]
pub struct EtcdArgs {
    /// etcd client URLs, comma-separated (e.g. https://10.0.0.1:2379); enables per-key counts.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    pub etcd_endpoints: Vec<String>,
    /// CA bundle that signed etcd's serving certificate.
    #[arg(long, value_name = "PATH")]
    pub etcd_cacert: Option<PathBuf>,
    /// Client certificate for etcd.
    #[arg(long, value_name = "PATH")]
    pub etcd_cert: Option<PathBuf>,
    /// Client key for etcd.
    #[arg(long, value_name = "PATH")]
    pub etcd_key: Option<PathBuf>,
    /// The apiserver's `--etcd-prefix`.
    #[arg(long, default_value = "/registry", value_name = "PREFIX")]
    pub etcd_prefix: String,
}

/// Stored Secrets per envelope.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EnvelopeCount {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct EtcdCounts {
    pub endpoint: String,
    pub total: u64,
    /// Sorted by provider, name, key id.
    pub envelopes: Vec<EnvelopeCount>,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<Kv>,
    #[serde(default)]
    more: bool,
}

#[derive(Deserialize)]
struct Kv {
    key: String,
    #[serde(default)]
    value: String,
}

const PAGE: u32 = 500;

impl EtcdArgs {
    fn http(&self) -> anyhow::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder().no_proxy();
        if let Some(ca) = &self.etcd_cacert {
            let pem = std::fs::read(ca)
                .with_context(|| format!("cannot read --etcd-cacert {}", ca.display()))?;
            builder = builder.tls_certs_only(
                reqwest::Certificate::from_pem_bundle(&pem)
                    .with_context(|| format!("invalid --etcd-cacert {}", ca.display()))?,
            );
        }
        match (&self.etcd_cert, &self.etcd_key) {
            (Some(cert), Some(key)) => {
                let mut pem = std::fs::read(cert)
                    .with_context(|| format!("cannot read --etcd-cert {}", cert.display()))?;
                pem.extend(
                    std::fs::read(key)
                        .with_context(|| format!("cannot read --etcd-key {}", key.display()))?,
                );
                builder = builder.identity(
                    reqwest::Identity::from_pem(&pem)
                        .context("invalid --etcd-cert/--etcd-key pair")?,
                );
            }
            (None, None) => {}
            _ => anyhow::bail!("--etcd-cert and --etcd-key go together"),
        }
        builder.build().context("cannot build the etcd client")
    }

    /// Counts every stored Secret by envelope, trying the endpoints in order.
    pub async fn count(&self) -> anyhow::Result<EtcdCounts> {
        let http = self.http()?;
        self.on_first_endpoint(async |endpoint| self.count_at(&http, endpoint).await)
            .await
    }

    /// The stored prefix of one Secret (`k8s:enc:kms:v2:<name>:`, `""` for plaintext), read
    /// straight from etcd, trying the endpoints in order.
    pub async fn stored_prefix(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        let http = self.http()?;
        let key = format!(
            "{}/secrets/{namespace}/{name}",
            self.etcd_prefix.trim_end_matches('/')
        );
        self.on_first_endpoint(async |endpoint| {
            let body = serde_json::json!({ "key": B64.encode(&key) });
            let page = range(&http, endpoint, &body).await?;
            let kv = page
                .kvs
                .first()
                .with_context(|| format!("etcd {endpoint} holds no {key}"))?;
            let value = B64.decode(&kv.value).context("etcd value is not base64")?;
            Ok(stored_prefix(&value))
        })
        .await
    }

    /// The first endpoint's answer that succeeds, else the last error.
    async fn on_first_endpoint<T>(
        &self,
        read: impl AsyncFn(&str) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let mut last_error = None;
        for endpoint in &self.etcd_endpoints {
            match read(endpoint.trim_end_matches('/')).await {
                Ok(answer) => return Ok(answer),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("no --etcd-endpoints given")))
    }

    async fn count_at(&self, http: &reqwest::Client, endpoint: &str) -> anyhow::Result<EtcdCounts> {
        let prefix = format!("{}/secrets/", self.etcd_prefix.trim_end_matches('/'));
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().expect("not empty") += 1;
        let mut from = prefix.as_bytes().to_vec();
        let mut counts: BTreeMap<Envelope, u64> = BTreeMap::new();
        let mut total = 0;
        loop {
            let body = serde_json::json!({
                "key": B64.encode(&from),
                "range_end": B64.encode(&end),
                "limit": PAGE,
            });
            let page = range(http, endpoint, &body).await?;
            let mut last_key = None;
            for kv in &page.kvs {
                let value = B64.decode(&kv.value).context("etcd value is not base64")?;
                *counts.entry(classify(&value)).or_default() += 1;
                total += 1;
                last_key = Some(kv.key.clone());
            }
            match last_key {
                Some(key) if page.more => {
                    from = B64.decode(key).context("etcd key is not base64")?;
                    from.push(0);
                }
                _ => break,
            }
        }
        Ok(EtcdCounts {
            endpoint: endpoint.to_string(),
            total,
            envelopes: counts
                .into_iter()
                .map(|(envelope, count)| EnvelopeCount { envelope, count })
                .collect(),
        })
    }
}

/// One `/v3/kv/range` call of etcd's JSON gateway.
async fn range(
    http: &reqwest::Client,
    endpoint: &str,
    body: &serde_json::Value,
) -> anyhow::Result<RangeResponse> {
    let resp = http
        .post(format!("{endpoint}/v3/kv/range"))
        .json(body)
        .send()
        .await
        .with_context(|| format!("etcd {endpoint} unreachable"))?;
    let status = resp.status();
    anyhow::ensure!(
        status.is_success(),
        "etcd {endpoint} answered {status} to a range read"
    );
    resp.json()
        .await
        .with_context(|| format!("etcd {endpoint} sent an unreadable range answer"))
}

/// The transformer prefix of a stored value: `k8s:enc:<provider>:<version>:<name>:`, `""` for
/// plaintext (protobuf or JSON), `unknown` otherwise.
pub fn stored_prefix(value: &[u8]) -> String {
    if value.starts_with(b"k8s:enc:") {
        let mut colons = 0;
        for (i, b) in value.iter().enumerate() {
            if *b == b':' {
                colons += 1;
                if colons == 5 {
                    return String::from_utf8_lossy(&value[..=i]).into_owned();
                }
            }
        }
        return "unknown".into();
    }
    match classify(value).provider.as_str() {
        "identity" => String::new(),
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_of_a_stored_value() {
        assert_eq!(
            stored_prefix(b"k8s:enc:kms:v2:ack:\x0a\x01"),
            "k8s:enc:kms:v2:ack:"
        );
        assert_eq!(
            stored_prefix(b"k8s:enc:aescbc:v1:key1:xyz"),
            "k8s:enc:aescbc:v1:key1:"
        );
        assert_eq!(stored_prefix(b"k8s\0\x0a"), "");
        assert_eq!(stored_prefix(b"k8s:enc:odd"), "unknown");
    }
}
