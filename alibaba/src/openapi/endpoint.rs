//! Where an OpenAPI product is reached: its regional public or VPC host
//! (`<product>[-vpc].<region>.aliyuncs.com`), or a custom URL — and the rule that plain http goes
//! only to loopback, where the emulator runs.

use std::net::IpAddr;

use url::Url;

/// Something that names the base URL of a product's endpoint.
pub trait ServiceEndpoint {
    /// The base URL requests are sent to (path `/`, no query).
    fn url(&self) -> Result<Url, String>;
}

/// A custom base URL: https anywhere, http on loopback only, no path or query.
impl ServiceEndpoint for Url {
    fn url(&self) -> Result<Url, String> {
        require_secure_or_loopback(self)?;
        if self.path() != "/" || self.query().is_some() {
            return Err(format!("endpoint {self} must not have a path or query"));
        }
        Ok(self.clone())
    }
}

/// `https://<product>.<region>.aliyuncs.com/`, or `<product>-vpc.` for the VPC endpoint that is
/// reachable only from inside an Alibaba Cloud VPC.
pub fn regional_url(product: &str, region: &str, vpc: bool) -> Result<Url, String> {
    check_region(region)?;
    let vpc = if vpc { "-vpc" } else { "" };
    let url = format!("https://{product}{vpc}.{region}.aliyuncs.com/");
    Url::parse(&url).map_err(|e| format!("invalid {product} endpoint {url:?}: {e}"))
}

/// A region id such as `cn-hangzhou`: ASCII letters, digits and dashes.
pub fn check_region(region: &str) -> Result<(), String> {
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        Err(format!(
            "invalid region {region:?}: expected a region id such as cn-hangzhou"
        ))
    } else {
        Ok(())
    }
}

/// Plain http would expose signed requests and Secret plaintext, so it is allowed only to
/// loopback hosts, where the emulator runs.
pub fn require_secure_or_loopback(url: &Url) -> Result<(), String> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if url.host_str().is_some_and(is_loopback_host) => Ok(()),
        "http" => Err(format!(
            "refusing plain http to {url}: use https, or http only on a loopback address"
        )),
        other => Err(format!("unsupported scheme {other:?} in {url}: use https")),
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `host` header value HTTP clients send for `url` (port only when not the default).
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_hosts_follow_the_product_pattern() {
        assert_eq!(
            regional_url("sts", "cn-beijing", true).unwrap().as_str(),
            "https://sts-vpc.cn-beijing.aliyuncs.com/"
        );
        assert_eq!(
            regional_url("cs", "cn-hangzhou", false).unwrap().as_str(),
            "https://cs.cn-hangzhou.aliyuncs.com/"
        );
        assert!(
            regional_url("kms", "cn hangzhou", false)
                .unwrap_err()
                .contains("cn hangzhou")
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        let url = |s: &str| Url::parse(s).unwrap();
        assert!(require_secure_or_loopback(&url("http://127.0.0.1:8080")).is_ok());
        assert!(require_secure_or_loopback(&url("http://[::1]:8080")).is_ok());
        assert!(require_secure_or_loopback(&url("http://localhost:1")).is_ok());
        let err = require_secure_or_loopback(&url("http://sts.aliyuncs.com")).unwrap_err();
        assert!(err.contains("refusing plain http"), "{err}");
        assert!(url("https://example.com/x").url().is_err());
    }

    #[test]
    fn host_header_keeps_non_default_ports() {
        assert_eq!(
            host_header(&Url::parse("http://127.0.0.1:8080/").unwrap()),
            "127.0.0.1:8080"
        );
        assert_eq!(
            host_header(&Url::parse("https://kms.cn-hangzhou.aliyuncs.com/").unwrap()),
            "kms.cn-hangzhou.aliyuncs.com"
        );
    }
}
