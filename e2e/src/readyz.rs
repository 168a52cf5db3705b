//! The apiserver's `/readyz?verbose`: every readiness check by name with its verdict. This is
//! where a cluster's KMS checks show how they are named (`kms-providers`, or one
//! `kms-provider-<i>` per KMS provider with KMS v1 and no reload), which a probe of one fixed
//! name cannot see.

use http_body_util::BodyExt as _;
use kube::Client;

use crate::error::Result;

/// One line of `/readyz?verbose`, e.g. `[+]kms-providers ok` or `[-]kms-provider-0 failed: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
}

/// `/readyz?verbose`: its HTTP status, its checks and the whole body (for failure messages).
#[derive(Debug, Clone)]
pub struct Readyz {
    pub status: u16,
    pub checks: Vec<Check>,
    pub body: String,
}

impl Readyz {
    /// Asks the apiserver behind `client`.
    pub async fn get(client: &Client) -> Result<Self> {
        let request = http::Request::get("/readyz?verbose")
            .body(Vec::new())
            .expect("static request is valid");
        let response = client.send(request.map(kube::client::Body::from)).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Self::parse(status, &String::from_utf8_lossy(&body)))
    }

    /// Parses a `/readyz?verbose` body.
    pub fn parse(status: u16, body: &str) -> Self {
        let checks = body
            .lines()
            .filter_map(|line| {
                let (ok, rest) = if let Some(rest) = line.strip_prefix("[+]") {
                    (true, rest)
                } else {
                    (false, line.strip_prefix("[-]")?)
                };
                let name = rest.split_whitespace().next()?.to_string();
                Some(Check { name, ok })
            })
            .collect();
        Self {
            status,
            checks,
            body: body.to_string(),
        }
    }

    /// The names of the KMS checks, in the apiserver's order.
    pub fn kms_checks(&self) -> Vec<&str> {
        self.checks
            .iter()
            .map(|c| c.name.as_str())
            .filter(|n| *n == "kms-providers" || n.starts_with("kms-provider-"))
            .collect()
    }

    /// Whether the check `name` is listed and passing.
    pub fn passes(&self, name: &str) -> bool {
        self.checks.iter().any(|c| c.name == name && c.ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_checks_are_picked_out_by_name() {
        let body = "[+]ping ok\n[+]etcd ok\n[+]kms-provider-0 ok\n[-]kms-provider-1 failed: reason withheld\n[+]poststarthook/rbac/bootstrap-roles ok\nreadyz check failed\n";
        let r = Readyz::parse(500, body);
        assert_eq!(r.kms_checks(), ["kms-provider-0", "kms-provider-1"]);
        assert!(r.passes("kms-provider-0"));
        assert!(!r.passes("kms-provider-1"));
        assert!(!r.passes("kms-providers"));
        assert_eq!(r.checks.len(), 5);
    }
}
