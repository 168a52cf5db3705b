//! Where KMS is reached: the public or VPC endpoint of a region, or a custom URL (a KMS instance
//! gateway, a proxy, or the local emulator) — and [`resolve`], the one rule every binary uses to
//! pick it from what it was told.

use url::Url;

use super::KeyArn;
use crate::openapi::endpoint::{ServiceEndpoint, regional_url, require_secure_or_loopback};

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

    /// The region's endpoint: VPC or public.
    pub fn of_region(region: impl Into<String>, vpc: bool) -> Self {
        let region = region.into();
        if vpc {
            Self::Vpc { region }
        } else {
            Self::Public { region }
        }
    }

    /// The base URL requests are sent to.
    pub fn url(&self) -> Result<Url, String> {
        match self {
            Self::Public { region } => regional_url("kms", region, false),
            Self::Vpc { region } => regional_url("kms", region, true),
            Self::Custom(url) => {
                require_secure_or_loopback(url)?;
                if url.path() != "/" || url.query().is_some() {
                    return Err(format!("kms endpoint {url} must not have a path or query"));
                }
                Ok(url.clone())
            }
        }
    }
}

impl ServiceEndpoint for Endpoint {
    fn url(&self) -> Result<Url, String> {
        Endpoint::url(self)
    }
}

/// What a binary knows about where a key lives; [`resolve`] turns it into the endpoint.
#[derive(Debug, Clone, Copy, Default)]
pub struct KeyLocation<'a> {
    /// The key: an id, `alias/<name>` or an ARN (which names its region).
    pub key: &'a str,
    /// An explicit endpoint (a flag): used as is.
    pub endpoint: Option<&'a Endpoint>,
    /// The endpoint URL declared with the key (the SecretEncryption's `spec.endpoint`).
    pub declared_endpoint: Option<&'a str>,
    /// The region from a flag or the declaration.
    pub region: Option<&'a str>,
    /// Use the region's VPC endpoint rather than its public one.
    pub vpc: bool,
}

/// Why no endpoint follows from a [`KeyLocation`]. Binaries add their own hint (which flag or
/// field to set).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The declared endpoint or the region is not valid.
    #[error("{0}")]
    Invalid(String),
    /// The given region is not the one the key's ARN names.
    #[error("region {region} contradicts the key ARN's region {arn_region} in {key}")]
    RegionConflict {
        region: String,
        arn_region: String,
        key: String,
    },
    /// No endpoint, no region, and the key is not an ARN.
    #[error("cannot tell which KMS region holds key {key:?}")]
    NoRegion { key: String },
}

/// The endpoint for a key: the explicit endpoint, else the declared endpoint URL, else the
/// region's VPC or public endpoint, the region coming from the flag or declaration or else the
/// key's ARN. A region that contradicts the key's ARN is an error whichever endpoint is chosen:
/// the ARN is authoritative and the contradiction is a mistake to report, not to guess past.
pub fn resolve(location: &KeyLocation<'_>) -> Result<Endpoint, EndpointError> {
    let arn_region = KeyArn::parse(location.key).map(|a| a.region);
    if let (Some(region), Some(arn_region)) = (location.region, &arn_region)
        && region != arn_region
    {
        return Err(EndpointError::RegionConflict {
            region: region.to_string(),
            arn_region: arn_region.clone(),
            key: location.key.to_string(),
        });
    }
    if let Some(endpoint) = location.endpoint {
        return Ok(endpoint.clone());
    }
    if let Some(url) = location.declared_endpoint {
        return Endpoint::parse(url).map_err(EndpointError::Invalid);
    }
    let region = location
        .region
        .map(str::to_string)
        .or(arn_region)
        .ok_or_else(|| EndpointError::NoRegion {
            key: location.key.to_string(),
        })?;
    let endpoint = Endpoint::of_region(region, location.vpc);
    endpoint.url().map_err(EndpointError::Invalid)?;
    Ok(endpoint)
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
        let err = Endpoint::parse("https://kms.example/x").unwrap_err();
        assert!(err.contains("must not have a path"), "{err}");
    }

    const ARN: &str = "acs:kms:cn-shanghai:123:key/key-abc";

    #[test]
    fn resolve_prefers_the_flag_then_the_declaration_then_the_region() {
        let flag = Endpoint::parse("http://127.0.0.1:9").unwrap();
        let all = KeyLocation {
            key: "alias/k8s",
            endpoint: Some(&flag),
            declared_endpoint: Some("https://kst-1.cryptoservice.kms.aliyuncs.com"),
            region: Some("cn-beijing"),
            vpc: true,
        };
        assert_eq!(resolve(&all), Ok(flag.clone()));
        let declared = KeyLocation {
            endpoint: None,
            ..all
        };
        assert_eq!(
            resolve(&declared).unwrap().url().unwrap().host_str(),
            Some("kst-1.cryptoservice.kms.aliyuncs.com")
        );
        let region = KeyLocation {
            declared_endpoint: None,
            ..declared
        };
        assert_eq!(
            resolve(&region),
            Ok(Endpoint::of_region("cn-beijing", true))
        );
        let public = KeyLocation {
            vpc: false,
            ..region
        };
        assert_eq!(
            resolve(&public),
            Ok(Endpoint::of_region("cn-beijing", false))
        );
    }

    #[test]
    fn resolve_takes_the_region_from_an_arn_and_refuses_a_contradiction() {
        let arn = KeyLocation {
            key: ARN,
            vpc: true,
            ..Default::default()
        };
        assert_eq!(resolve(&arn), Ok(Endpoint::of_region("cn-shanghai", true)));
        let same = KeyLocation {
            region: Some("cn-shanghai"),
            ..arn
        };
        assert_eq!(resolve(&same), Ok(Endpoint::of_region("cn-shanghai", true)));
        let flag = Endpoint::parse("http://127.0.0.1:9").unwrap();
        let other = KeyLocation {
            region: Some("cn-beijing"),
            endpoint: Some(&flag),
            ..arn
        };
        let err = resolve(&other).unwrap_err();
        assert!(matches!(err, EndpointError::RegionConflict { .. }));
        assert_eq!(
            err.to_string(),
            format!("region cn-beijing contradicts the key ARN's region cn-shanghai in {ARN}")
        );
    }

    #[test]
    fn resolve_reports_what_is_missing_or_invalid() {
        let none = KeyLocation {
            key: "alias/x",
            ..Default::default()
        };
        assert_eq!(
            resolve(&none).unwrap_err().to_string(),
            "cannot tell which KMS region holds key \"alias/x\""
        );
        let bad_region = KeyLocation {
            region: Some("cn hangzhou"),
            ..none
        };
        assert!(
            matches!(resolve(&bad_region), Err(EndpointError::Invalid(e)) if e.contains("cn hangzhou"))
        );
        let bad_url = KeyLocation {
            declared_endpoint: Some("http://kms.example"),
            ..none
        };
        assert!(
            matches!(resolve(&bad_url), Err(EndpointError::Invalid(e)) if e.contains("refusing plain http"))
        );
    }
}
