//! A rendered chart: every manifest `helm template` printed, as JSON values, with the lookups the
//! tests make (one of a kind, all of a kind, a summary for messages).

use serde_json::Value;

use crate::error::{HarnessError, Result};

/// A rendered chart: every manifest as a JSON value, in helm's order.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub docs: Vec<Value>,
}

impl Rendered {
    /// Parses a multi-document YAML stream, skipping empty documents.
    pub fn parse(yaml: &str) -> Result<Self> {
        let mut docs = Vec::new();
        for doc in serde_yaml::Deserializer::from_str(yaml) {
            let value: Value = serde::Deserialize::deserialize(doc)
                .map_err(|e| HarnessError::Webhook(format!("rendered YAML is invalid: {e}")))?;
            if !value.is_null() {
                docs.push(value);
            }
        }
        Ok(Self { docs })
    }

    /// Every manifest of `kind`.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.docs.iter().filter(move |d| d["kind"] == kind)
    }

    /// The one manifest of `kind` (named `name`, when given).
    pub fn one(&self, kind: &str, name: Option<&str>) -> Result<&Value> {
        let mut found = self
            .docs
            .iter()
            .filter(|d| d["kind"] == kind)
            .filter(|d| name.is_none_or(|n| d["metadata"]["name"] == n));
        let first = found.next().ok_or_else(|| {
            HarnessError::Webhook(format!(
                "the chart rendered no {kind} {}",
                name.unwrap_or("")
            ))
        })?;
        if found.next().is_some() {
            return Err(HarnessError::Webhook(format!(
                "the chart rendered more than one {kind}"
            )));
        }
        Ok(first)
    }

    /// `kind/name` of every manifest, for messages.
    pub fn summary(&self) -> Vec<String> {
        self.docs
            .iter()
            .map(|d| {
                format!(
                    "{}/{}",
                    d["kind"].as_str().unwrap_or("?"),
                    d["metadata"]["name"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }
}
