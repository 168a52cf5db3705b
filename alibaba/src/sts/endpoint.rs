//! Where STS is reached: `sts.<region>.aliyuncs.com` (or `sts-vpc.`), or a custom URL such as the
//! emulator's.

use url::Url;

use crate::openapi::endpoint::{ServiceEndpoint, regional_url};

/// An STS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://sts.<region>.aliyuncs.com`
    Public { region: String },
    /// `https://sts-vpc.<region>.aliyuncs.com`, reachable only from inside an Alibaba Cloud VPC.
    Vpc { region: String },
    /// Any https URL, or http on a loopback address (the emulator).
    Custom(Url),
}

impl ServiceEndpoint for Endpoint {
    fn url(&self) -> Result<Url, String> {
        match self {
            Self::Public { region } => regional_url("sts", region, false),
            Self::Vpc { region } => regional_url("sts", region, true),
            Self::Custom(url) => url.url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_hosts() {
        let public = Endpoint::Public {
            region: "cn-hangzhou".into(),
        };
        assert_eq!(
            public.url().unwrap().as_str(),
            "https://sts.cn-hangzhou.aliyuncs.com/"
        );
        let custom = Endpoint::Custom(Url::parse("http://sts.example.com/").unwrap());
        assert!(custom.url().unwrap_err().contains("refusing plain http"));
    }
}
