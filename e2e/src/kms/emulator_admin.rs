//! The KMS emulator's test controls (`/_emulator/...`): rotate, disable, enable, schedule and
//! cancel deletion, inject faults, and read every key's metadata.

use serde_json::Value;

use super::{KmsStackError, Result};

/// A client for one emulator's controls; cheap to clone.
#[derive(Debug, Clone)]
pub struct EmulatorAdmin {
    url: String,
    http: reqwest::Client,
}

impl EmulatorAdmin {
    /// `url` is the emulator's base URL, e.g. `http://127.0.0.1:PORT`.
    pub fn new(url: impl Into<String>) -> Self {
        secretkms_alibaba::install_crypto_provider();
        Self {
            url: url.into().trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Result<Value> {
        let failed = |detail: String| KmsStackError::Emulator(format!("{what}: {detail}"));
        let response = request.send().await.map_err(|e| failed(e.to_string()))?;
        let status = response.status();
        let body = response.text().await.map_err(|e| failed(e.to_string()))?;
        if !status.is_success() {
            return Err(failed(format!("http {status}: {body}")));
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|e| failed(format!("not json ({e}): {body}")))
    }

    /// `/_emulator/<action>?<query>`, the query encoded (aliases contain `/`).
    fn control_url(&self, action: &str, query: &[(&str, &str)]) -> Result<reqwest::Url> {
        reqwest::Url::parse_with_params(&format!("{}/_emulator/{action}", self.url), query)
            .map_err(|e| KmsStackError::Emulator(format!("bad control url for {action}: {e}")))
    }

    async fn control(&self, action: &str, key: &str) -> Result<Value> {
        let request = self.http.post(self.control_url(action, &[("key", key)])?);
        self.send(&format!("{action} {key}"), request).await
    }

    /// A new primary version now; returns its id.
    pub async fn rotate(&self, key: &str) -> Result<String> {
        let v = self.control("rotate", key).await?;
        v["KeyVersionId"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| KmsStackError::Emulator(format!("rotate {key}: no KeyVersionId in {v}")))
    }

    pub async fn disable(&self, key: &str) -> Result<()> {
        self.control("disable", key).await.map(drop)
    }

    pub async fn enable(&self, key: &str) -> Result<()> {
        self.control("enable", key).await.map(drop)
    }

    /// PendingDeletion in `days` days.
    pub async fn schedule_deletion(&self, key: &str, days: u32) -> Result<()> {
        let days = days.to_string();
        let request = self
            .http
            .post(self.control_url("schedule-deletion", &[("key", key), ("days", &days)])?);
        self.send(&format!("schedule-deletion {key}"), request)
            .await
            .map(drop)
    }

    pub async fn cancel_deletion(&self, key: &str) -> Result<()> {
        self.control("cancel-deletion", key).await.map(drop)
    }

    /// Queues faults, e.g. `{"kind":"drop","count":10,"action":"DescribeKey"}`.
    pub async fn inject_fault(&self, fault: Value) -> Result<()> {
        let request = self
            .http
            .post(format!("{}/_emulator/faults", self.url))
            .body(fault.to_string());
        self.send("faults", request).await.map(drop)
    }

    pub async fn clear_faults(&self) -> Result<()> {
        let request = self.http.delete(format!("{}/_emulator/faults", self.url));
        self.send("clear faults", request).await.map(drop)
    }

    /// DescribeKey-style metadata of `key` (an id or `alias/<name>`).
    pub async fn key(&self, key: &str) -> Result<Value> {
        let all = self
            .send(
                "keys",
                self.http.get(format!("{}/_emulator/keys", self.url)),
            )
            .await?;
        let id = match all["Aliases"].get(key).or_else(|| {
            key.strip_prefix("alias/")
                .and_then(|name| all["Aliases"].get(name))
        }) {
            Some(Value::String(id)) => id.clone(),
            _ => key.to_string(),
        };
        all["Keys"]
            .as_array()
            .and_then(|keys| keys.iter().find(|k| k["KeyId"] == id.as_str()))
            .cloned()
            .ok_or_else(|| KmsStackError::Emulator(format!("no key {key}")))
    }

    /// The key's id (resolving an alias).
    pub async fn key_id(&self, key: &str) -> Result<String> {
        Ok(self.key(key).await?["KeyId"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// The key's current primary version id.
    pub async fn primary_version(&self, key: &str) -> Result<String> {
        let k = self.key(key).await?;
        k["PrimaryKeyVersion"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| {
                KmsStackError::Emulator(format!("key {key} has no PrimaryKeyVersion: {k}"))
            })
    }
}
