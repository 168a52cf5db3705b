//! Where BSS OpenAPI is reached: `business.aliyuncs.com` for China site accounts,
//! `business.ap-southeast-1.aliyuncs.com` for international ones, or a custom URL such as the
//! emulator's.

use url::Url;

use crate::openapi::endpoint::ServiceEndpoint;

/// A BSS OpenAPI endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Endpoint {
    /// `https://business.aliyuncs.com`
    #[default]
    China,
    /// `https://business.ap-southeast-1.aliyuncs.com`
    International,
    /// Any https URL, or http on a loopback address (the emulator).
    Custom(Url),
}

impl ServiceEndpoint for Endpoint {
    fn url(&self) -> Result<Url, String> {
        let fixed = |url: &str| Url::parse(url).map_err(|e| e.to_string());
        match self {
            Self::China => fixed("https://business.aliyuncs.com/"),
            Self::International => fixed("https://business.ap-southeast-1.aliyuncs.com/"),
            Self::Custom(url) => url.url(),
        }
    }
}
