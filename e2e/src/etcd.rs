//! A single-member etcd on loopback, and raw reads of what the apiserver stored in it.
//!
//! Raw reads go through etcd's JSON gateway (`/v3/kv/range`), so tests see the exact bytes the
//! apiserver wrote: plaintext protobuf or an encryption envelope.

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;

use crate::error::{HarnessError, Result};
use crate::process::{Supervised, free_ports, lost_port_race};

/// A running etcd.
#[derive(Debug)]
pub struct Etcd {
    pub endpoint: String,
    pub(crate) process: Supervised,
}

impl Etcd {
    /// Starts etcd with its data in `dir`, retrying on a port race.
    pub async fn start(binary: &Path, dir: &Path) -> Result<Self> {
        let mut last = None;
        for _attempt in 0..3 {
            match Self::try_start(binary, dir).await {
                Ok(etcd) => return Ok(etcd),
                Err(e) if lost_port_race(&e) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.expect("loop ran at least once"))
    }

    async fn try_start(binary: &Path, dir: &Path) -> Result<Self> {
        let [client, peer] = free_ports()?;
        let endpoint = format!("http://127.0.0.1:{client}");
        let peer_url = format!("http://127.0.0.1:{peer}");
        let data = dir.join("etcd-data");
        let _ = std::fs::remove_dir_all(&data);
        let args = vec![
            "--name=default".to_string(),
            format!("--data-dir={}", data.display()),
            format!("--listen-client-urls={endpoint}"),
            format!("--advertise-client-urls={endpoint}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=default={peer_url}"),
            "--unsafe-no-fsync".to_string(),
            "--log-level=warn".to_string(),
        ];
        let mut process = Supervised::spawn("etcd", binary, &args, &dir.join("etcd.log"))?;
        let http = reqwest::Client::new();
        let since = Instant::now();
        let mut last_error = String::from("not yet polled");
        while since.elapsed() < Duration::from_secs(30) {
            process.check_alive()?;
            match http.get(format!("{endpoint}/health")).send().await {
                Ok(r) if r.status().is_success() => return Ok(Self { endpoint, process }),
                Ok(r) => last_error = format!("/health answered {}", r.status()),
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(process.not_ready(since, last_error))
    }

    /// etcd's log file.
    pub fn log(&self) -> &Path {
        &self.process.log
    }

    /// A client for raw reads.
    pub fn reader(&self) -> EtcdReader {
        EtcdReader {
            endpoint: self.endpoint.clone(),
        }
    }
}

/// Reads keys straight from etcd.
#[derive(Debug, Clone)]
pub struct EtcdReader {
    endpoint: String,
}

#[derive(Deserialize)]
struct RangeResponse {
    #[serde(default)]
    kvs: Vec<Kv>,
}

#[derive(Deserialize)]
struct Kv {
    key: String,
    #[serde(default)]
    value: String,
}

impl EtcdReader {
    /// The value stored under `key`, if any.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let kvs = self
            .range(serde_json::json!({ "key": B64.encode(key) }))
            .await?;
        Ok(kvs.into_iter().next().map(|(_, v)| v))
    }

    /// Every key and value under `prefix`, e.g. `/registry/secrets/<namespace>/`.
    pub async fn prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut end = prefix.as_bytes().to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        self.range(serde_json::json!({ "key": B64.encode(prefix), "range_end": B64.encode(end) }))
            .await
    }

    async fn range(&self, body: serde_json::Value) -> Result<Vec<(String, Vec<u8>)>> {
        let resp = reqwest::Client::new()
            .post(format!("{}/v3/kv/range", self.endpoint))
            .json(&body)
            .send()
            .await
            .map_err(|e| HarnessError::Etcd(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(HarnessError::Etcd(format!(
                "range answered {}",
                resp.status()
            )));
        }
        let parsed: RangeResponse = resp
            .json()
            .await
            .map_err(|e| HarnessError::Etcd(e.to_string()))?;
        parsed
            .kvs
            .into_iter()
            .map(|kv| {
                let key = B64
                    .decode(kv.key)
                    .map_err(|e| HarnessError::Etcd(e.to_string()))?;
                let value = B64
                    .decode(kv.value)
                    .map_err(|e| HarnessError::Etcd(e.to_string()))?;
                Ok((String::from_utf8_lossy(&key).into_owned(), value))
            })
            .collect()
    }
}
