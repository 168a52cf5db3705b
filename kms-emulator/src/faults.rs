//! Injected faults for tests: latency, 5xx, throttling, dropped connections and malformed or
//! truncated bodies, each for a bounded number of requests.

use serde::{Deserialize, Serialize};

/// Upper bounds, so a control request can never wedge the emulator.
pub const MAX_COUNT: u32 = 1000;
pub const MAX_LATENCY_MS: u64 = 60_000;

/// What goes wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Delay the answer by `latency_ms`, then answer normally.
    Latency,
    /// 500 `InternalFailure` (or `status` 503 `ServiceUnavailable`).
    ServerError,
    /// 429 `Rejected.Throttling` (or `status` 400 `Throttling`).
    Throttle,
    /// Process the request, then abort the connection mid-response.
    Drop,
    /// Process the request, then send only the first half of the JSON body (200).
    Truncate,
    /// Process the request, then answer 200 with a body that is not JSON.
    Malformed,
}

/// One fault rule (the JSON body of `POST /_emulator/faults`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub kind: FaultKind,
    /// How many matching requests it affects.
    #[serde(default = "one")]
    pub count: u32,
    #[serde(default)]
    pub latency_ms: u64,
    /// Alternative HTTP status for `server-error` (503) and `throttle` (400).
    #[serde(default)]
    pub status: Option<u16>,
    /// Only requests for this action (e.g. `DescribeKey`); all when absent.
    #[serde(default)]
    pub action: Option<String>,
}

fn one() -> u32 {
    1
}

impl Fault {
    pub fn validate(&mut self) -> Result<(), String> {
        if self.count == 0 || self.count > MAX_COUNT {
            return Err(format!("count {} must be 1 to {MAX_COUNT}", self.count));
        }
        if self.latency_ms > MAX_LATENCY_MS {
            return Err(format!(
                "latency_ms {} must be at most {MAX_LATENCY_MS}",
                self.latency_ms
            ));
        }
        match (self.kind, self.status) {
            (_, None)
            | (FaultKind::ServerError, Some(500 | 503))
            | (FaultKind::Throttle, Some(400 | 429)) => Ok(()),
            (kind, Some(status)) => Err(format!("status {status} does not fit fault {kind:?}")),
        }
    }
}

/// The active rules, consumed first to last.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        self.rules.push(fault);
    }

    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.rules).len()
    }

    pub fn pending(&self) -> Vec<Fault> {
        self.rules.clone()
    }

    /// Takes one use of the first rule matching `action`.
    pub fn take(&mut self, action: &str) -> Option<Fault> {
        let index = self
            .rules
            .iter()
            .position(|f| f.action.as_deref().is_none_or(|a| a == action))?;
        let rule = &mut self.rules[index];
        rule.count -= 1;
        let taken = rule.clone();
        if rule.count == 0 {
            self.rules.remove(index);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_bounded_and_consumed() {
        let mut f: Fault =
            serde_json::from_str(r#"{"kind":"throttle","count":2,"action":"Encrypt"}"#).unwrap();
        f.validate().unwrap();
        let mut faults = Faults::default();
        faults.add(f);
        assert!(faults.take("DescribeKey").is_none());
        assert!(faults.take("Encrypt").is_some());
        assert!(faults.take("Encrypt").is_some());
        assert!(faults.take("Encrypt").is_none());
        let mut too_many: Fault =
            serde_json::from_str(r#"{"kind":"drop","count":100000}"#).unwrap();
        assert!(too_many.validate().is_err());
    }
}
