//! Where KMS is reached: the public or VPC endpoint of a region, or a custom URL (a KMS instance
//! gateway, a proxy, or the local emulator).

use std::net::IpAddr;

use url::Url;

/// A KMS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://kms.<region>.aliyuncs.com`
    Public { region: String },
    /// `https://kms-vpc.<region>.aliyuncs.com`, reachable only from inside an Alibaba Cloud VPC.
    Vpc { region: String },
    /// Any https URL, or http on a loopback address (the emulator).
    Custom(Url),
}

impl Endpoint {
    /// Parses `public:<region>`, `vpc:<region>` or a URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let endpoint = if let Some(region) = text.strip_prefix("public:") {
            Self::Public {
                region: region.to_string(),
            }
        } else if let Some(region) = text.strip_prefix("vpc:") {
            Self::Vpc {
                region: region.to_string(),
            }
        } else {
            Self::Custom(
                Url::parse(text).map_err(|e| format!("invalid kms endpoint {text:?}: {e}"))?,
            )
        };
        endpoint.url()?;
        Ok(endpoint)
    }

    /// The base URL requests are sent to.
    pub fn url(&self) -> Result<Url, String> {
        let check_region = |region: &str| {
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
        };
        let url = match self {
            Self::Public { region } => {
                check_region(region)?;
                format!("https://kms.{region}.aliyuncs.com/")
            }
            Self::Vpc { region } => {
                check_region(region)?;
                format!("https://kms-vpc.{region}.aliyuncs.com/")
            }
            Self::Custom(url) => {
                require_secure_or_loopback(url)?;
                if url.path() != "/" || url.query().is_some() {
                    return Err(format!("kms endpoint {url} must not have a path or query"));
                }
                return Ok(url.clone());
            }
        };
        Url::parse(&url).map_err(|e| format!("invalid kms endpoint {url:?}: {e}"))
    }
}

/// Plain http would expose signed requests and Secret plaintext, so it is allowed only to
/// loopback hosts, where the emulator runs.
pub(crate) fn require_secure_or_loopback(url: &Url) -> Result<(), String> {
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
    fn region_endpoints() {
        assert_eq!(
            Endpoint::Public {
                region: "cn-hangzhou".into()
            }
            .url()
            .unwrap()
            .as_str(),
            "https://kms.cn-hangzhou.aliyuncs.com/"
        );
        assert_eq!(
            Endpoint::parse("vpc:cn-beijing")
                .unwrap()
                .url()
                .unwrap()
                .as_str(),
            "https://kms-vpc.cn-beijing.aliyuncs.com/"
        );
        assert!(
            Endpoint::parse("public:cn hangzhou")
                .unwrap_err()
                .contains("cn hangzhou")
        );
    }

    #[test]
    fn plain_http_only_on_loopback() {
        assert!(Endpoint::parse("http://127.0.0.1:8080").is_ok());
        assert!(Endpoint::parse("http://[::1]:8080").is_ok());
        assert!(Endpoint::parse("http://localhost:1").is_ok());
        assert!(Endpoint::parse("https://kst-hzz.cryptoservice.kms.aliyuncs.com").is_ok());
        let err = Endpoint::parse("http://kms.cn-hangzhou.aliyuncs.com").unwrap_err();
        assert!(err.contains("refusing plain http"), "{err}");
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
