//! Where ActionTrail is reached: `actiontrail.<region>.aliyuncs.com`, or a custom URL such as the
//! emulator's.

use url::Url;

use crate::openapi::endpoint::{ServiceEndpoint, regional_url};

/// An ActionTrail endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://actiontrail.<region>.aliyuncs.com`
    Region(String),
    /// Any https URL, or http on a loopback address (the emulator).
    Custom(Url),
}

impl ServiceEndpoint for Endpoint {
    fn url(&self) -> Result<Url, String> {
        match self {
            Self::Region(region) => regional_url("actiontrail", region, false),
            Self::Custom(url) => url.url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_host() {
        assert_eq!(
            Endpoint::Region("cn-shanghai".into())
                .url()
                .unwrap()
                .as_str(),
            "https://actiontrail.cn-shanghai.aliyuncs.com/"
        );
    }
}
