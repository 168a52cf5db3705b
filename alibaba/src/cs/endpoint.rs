//! Where CS (ACK) is reached: the regional host `cs.<region>.aliyuncs.com`, or a custom URL such
//! as the emulator's.

use url::Url;

use crate::openapi::endpoint::{ServiceEndpoint, regional_url};

/// A CS endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://cs.<region>.aliyuncs.com`
    Regional { region: String },
    /// Any https URL, or http on a loopback address (the emulator).
    Custom(Url),
}

impl ServiceEndpoint for Endpoint {
    fn url(&self) -> Result<Url, String> {
        match self {
            Self::Regional { region } => regional_url("cs", region, false),
            Self::Custom(url) => url.url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_host() {
        let endpoint = Endpoint::Regional {
            region: "cn-hangzhou".into(),
        };
        assert_eq!(
            endpoint.url().unwrap().as_str(),
            "https://cs.cn-hangzhou.aliyuncs.com/"
        );
        let plain = Endpoint::Custom(Url::parse("http://cs.example.com/").unwrap());
        assert!(plain.url().is_err());
    }
}
