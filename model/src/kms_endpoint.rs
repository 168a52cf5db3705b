//! Which KMS endpoints a `SecretEncryption` may name in `spec.endpoint` without being forced:
//! Alibaba Cloud KMS's own hosts, or loopback, where the emulator runs. The webhook sends its
//! signed requests (with the STS token) to that endpoint and trusts the key state it answers, so
//! any other host could report "Enabled" for a disabled key. One rule, here, so that every
//! reader of the declaration (the key-change guard first) draws the line in the same place.
//!
//! The accepted forms are the ones `secretkms-alibaba`'s `Endpoint::parse` reads:
//! `public:<region>` and `vpc:<region>`, `https://kms.<region>.aliyuncs.com`,
//! `https://kms-vpc.<region>.aliyuncs.com`, a KMS instance gateway
//! `https://<kst-...>.cryptoservice.kms.aliyuncs.com`, and http or https on `localhost`,
//! `127.0.0.0/8` or `[::1]`. Parsing is deliberately stricter than a URL parser (no user info,
//! no percent escapes, no IPv4 shorthand): anything it cannot read plainly counts as foreign, and
//! the force annotation is the way out.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The suffix of every Alibaba Cloud OpenAPI host.
const ALIYUNCS: &str = ".aliyuncs.com";
/// The suffix of KMS instance (dedicated gateway) hosts.
const INSTANCE_SUFFIX: &str = ".cryptoservice.kms.aliyuncs.com";
/// How KMS instance ids begin.
const INSTANCE_PREFIX: &str = "kst-";

/// An endpoint that may be declared without force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmsEndpoint {
    /// `public:<region>` or `https://kms.<region>.aliyuncs.com`.
    Public { region: String },
    /// `vpc:<region>` or `https://kms-vpc.<region>.aliyuncs.com`.
    Vpc { region: String },
    /// `https://<instance>.cryptoservice.kms.aliyuncs.com`, a KMS instance's gateway.
    Instance { instance: String },
    /// http or https on a loopback host: the local emulator.
    Loopback,
}

/// Why an endpoint is not one that may be declared without force.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForeignEndpoint {
    #[error("it is not a URL of the form https://host[:port]")]
    NotUrl,
    #[error("it names no valid region (e.g. cn-hangzhou)")]
    BadRegion,
    #[error("plain {scheme} is refused except on loopback")]
    Insecure { scheme: String },
    #[error("it has a path, query, fragment or user info")]
    HasMore,
    #[error("host {host} is neither Alibaba Cloud KMS nor loopback")]
    ForeignHost { host: String },
}

impl KmsEndpoint {
    /// Classifies `text`, a `spec.endpoint` value.
    pub fn parse(text: &str) -> Result<Self, ForeignEndpoint> {
        let text = text.trim();
        if let Some(region) = text.strip_prefix("public:") {
            return Ok(Self::Public {
                region: region_id(region)?,
            });
        }
        if let Some(region) = text.strip_prefix("vpc:") {
            return Ok(Self::Vpc {
                region: region_id(region)?,
            });
        }
        let (scheme, rest) = text.split_once("://").ok_or(ForeignEndpoint::NotUrl)?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(ForeignEndpoint::NotUrl);
        }
        let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if !(tail.is_empty() || tail == "/") || authority.contains(['@', '%']) {
            return Err(ForeignEndpoint::HasMore);
        }
        let host = host_of(authority)?.to_ascii_lowercase();
        if is_loopback(&host) {
            return Ok(Self::Loopback);
        }
        let endpoint = Self::of_alibaba_host(&host)?;
        if scheme != "https" {
            return Err(ForeignEndpoint::Insecure { scheme });
        }
        Ok(endpoint)
    }

    fn of_alibaba_host(host: &str) -> Result<Self, ForeignEndpoint> {
        let foreign = || ForeignEndpoint::ForeignHost {
            host: host.to_string(),
        };
        if let Some(instance) = host.strip_suffix(INSTANCE_SUFFIX) {
            let id = instance.strip_prefix(INSTANCE_PREFIX).ok_or_else(foreign)?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(foreign());
            }
            return Ok(Self::Instance {
                instance: instance.to_string(),
            });
        }
        let product_region = host.strip_suffix(ALIYUNCS).ok_or_else(foreign)?;
        if let Some(region) = product_region.strip_prefix("kms-vpc.") {
            return Ok(Self::Vpc {
                region: region_id(region)?,
            });
        }
        if let Some(region) = product_region.strip_prefix("kms.") {
            return Ok(Self::Public {
                region: region_id(region)?,
            });
        }
        Err(foreign())
    }
}

/// The host of `host[:port]` or `[v6][:port]`, with a port, if any, of digits only.
fn host_of(authority: &str) -> Result<&str, ForeignEndpoint> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (inner, after) = v6.split_once(']').ok_or(ForeignEndpoint::NotUrl)?;
        match after {
            "" => (&authority[..inner.len() + 2], None),
            _ => (
                &authority[..inner.len() + 2],
                Some(after.strip_prefix(':').ok_or(ForeignEndpoint::NotUrl)?),
            ),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(ForeignEndpoint::NotUrl);
    }
    if let Some(port) = port
        && (!port.bytes().all(|b| b.is_ascii_digit())
            || !matches!(port.parse::<u16>(), Ok(p) if p != 0))
    {
        return Err(ForeignEndpoint::NotUrl);
    }
    Ok(host)
}

/// `localhost`, a dotted-quad in 127.0.0.0/8, or `[::1]`.
fn is_loopback(host: &str) -> bool {
    if host == "localhost" {
        return true;
    }
    if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return v6.parse::<Ipv6Addr>().is_ok_and(|ip| ip.is_loopback());
    }
    host.parse::<Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

/// A region id such as `cn-hangzhou`: lowercase letters, digits and dashes.
fn region_id(region: &str) -> Result<String, ForeignEndpoint> {
    let ok = !region.is_empty()
        && !region.starts_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(region.to_string())
    } else {
        Err(ForeignEndpoint::BadRegion)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(region: &str) -> KmsEndpoint {
        KmsEndpoint::Public {
            region: region.into(),
        }
    }

    #[test]
    fn alibaba_kms_hosts_are_accepted() {
        for (text, want) in [
            ("public:cn-hangzhou", public("cn-hangzhou")),
            (
                "https://kms.cn-hangzhou.aliyuncs.com",
                public("cn-hangzhou"),
            ),
            (
                "https://kms.ap-southeast-1.aliyuncs.com/",
                public("ap-southeast-1"),
            ),
            (
                "HTTPS://KMS.CN-HANGZHOU.ALIYUNCS.COM:443",
                public("cn-hangzhou"),
            ),
            (
                "vpc:cn-beijing",
                KmsEndpoint::Vpc {
                    region: "cn-beijing".into(),
                },
            ),
            (
                "https://kms-vpc.cn-beijing.aliyuncs.com",
                KmsEndpoint::Vpc {
                    region: "cn-beijing".into(),
                },
            ),
            (
                "https://kst-hzz62ee817bvyyr5x.cryptoservice.kms.aliyuncs.com",
                KmsEndpoint::Instance {
                    instance: "kst-hzz62ee817bvyyr5x".into(),
                },
            ),
        ] {
            assert_eq!(KmsEndpoint::parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn loopback_is_accepted_over_http_or_https() {
        for text in [
            "http://127.0.0.1:8080",
            "https://127.0.0.1:8443/",
            "https://127.3.2.1:1",
            "http://[::1]:9000",
            "https://[::1]",
            "https://localhost:4443",
            "http://LOCALHOST:1",
        ] {
            assert_eq!(
                KmsEndpoint::parse(text),
                Ok(KmsEndpoint::Loopback),
                "{text}"
            );
        }
    }

    #[test]
    fn everything_else_is_foreign_with_the_reason() {
        use ForeignEndpoint::*;
        let host = |h: &str| ForeignHost { host: h.into() };
        for (text, want) in [
            ("https://kms.example.com", host("kms.example.com")),
            (
                "https://kms.cn-hangzhou.aliyuncs.com.evil.example",
                host("kms.cn-hangzhou.aliyuncs.com.evil.example"),
            ),
            ("https://evil.example/.aliyuncs.com", HasMore),
            (
                "https://sts.cn-hangzhou.aliyuncs.com",
                host("sts.cn-hangzhou.aliyuncs.com"),
            ),
            (
                "https://kms.cn-hangzhou.aliyuncs.com.",
                host("kms.cn-hangzhou.aliyuncs.com."),
            ),
            ("https://kms.a.b.aliyuncs.com", BadRegion),
            ("https://kms..aliyuncs.com", BadRegion),
            ("public:cn hangzhou", BadRegion),
            ("vpc:", BadRegion),
            (
                "https://evil.cryptoservice.kms.aliyuncs.com",
                host("evil.cryptoservice.kms.aliyuncs.com"),
            ),
            (
                "https://kst-.cryptoservice.kms.aliyuncs.com",
                host("kst-.cryptoservice.kms.aliyuncs.com"),
            ),
            (
                "https://kst-a.b.cryptoservice.kms.aliyuncs.com",
                host("kst-a.b.cryptoservice.kms.aliyuncs.com"),
            ),
            (
                "http://kms.cn-hangzhou.aliyuncs.com",
                Insecure {
                    scheme: "http".into(),
                },
            ),
            ("kms.cn-hangzhou.aliyuncs.com", NotUrl),
            ("ftp://127.0.0.1", NotUrl),
            ("https://", NotUrl),
            ("https://127.0.0.1:", NotUrl),
            ("https://127.0.0.1:99999", NotUrl),
            ("https://127.0.0.1:0", NotUrl),
            ("https://[::1", NotUrl),
            ("https://[::1]x", NotUrl),
            ("https://kms.cn-hangzhou.aliyuncs.com/path", HasMore),
            ("https://kms.cn-hangzhou.aliyuncs.com?x=1", HasMore),
            ("https://kms.cn-hangzhou.aliyuncs.com@evil.example", HasMore),
            ("https://127.0.0.1\\@evil.example", HasMore),
            (
                "https://kms.cn-hangzhou.aliyuncs.com%2eevil.example",
                HasMore,
            ),
            ("https://127.1", host("127.1")),
            ("https://10.0.0.1", host("10.0.0.1")),
            ("https://[::ffff:127.0.0.1]", host("[::ffff:127.0.0.1]")),
            (
                "https://localhost.evil.example",
                host("localhost.evil.example"),
            ),
        ] {
            assert_eq!(KmsEndpoint::parse(text), Err(want), "{text}");
        }
    }

    #[test]
    fn reasons_read_as_a_clause() {
        let e = KmsEndpoint::parse("https://kms.example.com").unwrap_err();
        assert_eq!(
            e.to_string(),
            "host kms.example.com is neither Alibaba Cloud KMS nor loopback"
        );
    }
}
