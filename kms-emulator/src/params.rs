//! Request parameters gathered from the query string and a form body, as RPC-style APIs take
//! them from either place.

use crate::api_error::ApiError;

/// Decoded `(name, value)` pairs in arrival order.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses `a=b&c=d` with percent-decoding (`+` is a space, as in forms).
    pub fn parse_into(&mut self, encoded: &str) {
        self.0.extend(
            url::form_urlencoded::parse(encoded.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned())),
        );
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_string(), value.to_string()));
    }

    /// The first value of `name`, if present (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A present, non-empty value.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// A required value, else `MissingParameter`.
    pub fn req(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name).ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.opt(name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| ApiError::invalid(name, format!("{v:?} is not a number")))
            })
            .transpose()
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.opt(name)
            .map(|v| match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(
                    name,
                    format!("{v:?} is not true or false"),
                )),
            })
            .transpose()
    }

    /// All pairs except `name` (the V2 signature covers everything but `Signature`).
    pub fn without(&self, name: &str) -> Vec<(String, String)> {
        self.0.iter().filter(|(k, _)| k != name).cloned().collect()
    }
}
