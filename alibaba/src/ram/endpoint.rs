//! Where RAM is reached: its one global host `ram.aliyuncs.com`, or a custom URL such as the
//! emulator's.

use url::Url;

use crate::openapi::endpoint::ServiceEndpoint;

/// A RAM endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Endpoint {
    /// `https://ram.aliyuncs.com`: RAM is global, not regional.
    #[default]
    Global,
    /// Any https URL, or http on a loopback address (the emulator).
    Custom(Url),
}

impl ServiceEndpoint for Endpoint {
    fn url(&self) -> Result<Url, String> {
        match self {
            Self::Global => Url::parse("https://ram.aliyuncs.com/").map_err(|e| e.to_string()),
            Self::Custom(url) => url.url(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_host() {
        assert_eq!(
            Endpoint::Global.url().unwrap().as_str(),
            "https://ram.aliyuncs.com/"
        );
    }
}
