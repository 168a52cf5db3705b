//! One OpenAPI request in either style, and its signed form. RPC requests name an `Action` and
//! send their parameters on `/`; ROA requests (CS, the ACK API) name a REST path and send a JSON
//! body. ACS3-HMAC-SHA256 signs both; the RPC HMAC-SHA1 signature exists only for RPC.

use time::OffsetDateTime;
use url::Url;

use super::error::{Error, Result};
use super::signature::{self, SignatureMethod};
use crate::credentials::Credentials;

/// Request parameters as (name, value) pairs, in the order they were added.
pub type Params = Vec<(String, String)>;

/// One parameter or header.
pub fn param(name: &str, value: impl Into<String>) -> (String, String) {
    (name.to_string(), value.into())
}

/// How the operation is addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `POST /` with `Action`, `Version` and the parameters in the query (KMS, RAM, STS, ...).
    Rpc,
    /// A method and path with an optional JSON body (CS).
    Roa,
}

/// An unsigned request.
#[derive(Debug, Clone)]
pub struct Request {
    pub style: Style,
    /// The product's API version, e.g. `2016-01-20` for KMS.
    pub version: &'static str,
    /// The operation name (`x-acs-action`), also used in error messages.
    pub action: &'static str,
    pub method: &'static str,
    pub path: String,
    pub query: Params,
    /// JSON body of ROA requests.
    pub body: Option<Vec<u8>>,
}

impl Request {
    /// An RPC call: `POST /` with `params`.
    pub fn rpc(version: &'static str, action: &'static str, params: Params) -> Self {
        Self {
            style: Style::Rpc,
            version,
            action,
            method: "POST",
            path: "/".into(),
            query: params,
            body: None,
        }
    }

    /// A ROA call: `method path`, with `body` sent as JSON when given.
    pub fn roa(
        version: &'static str,
        action: &'static str,
        method: &'static str,
        path: impl Into<String>,
        body: Option<Vec<u8>>,
    ) -> Self {
        Self {
            style: Style::Roa,
            version,
            action,
            method,
            path: path.into(),
            query: Vec::new(),
            body,
        }
    }

    /// Signs the request for `base` (fresh nonce and `now` as the timestamp).
    pub fn sign(
        &self,
        base: &Url,
        host: &str,
        method: SignatureMethod,
        creds: &Credentials,
        now: OffsetDateTime,
    ) -> Result<SignedRequest> {
        let timestamp = signature::format_timestamp(now);
        let nonce = signature::new_nonce();
        let mut url = base.clone();
        url.set_path(&self.path);
        let body = self.body.clone().unwrap_or_default();
        match (method, self.style) {
            (SignatureMethod::Acs3HmacSha256, _) => {
                let payload_hash = signature::sha256_hex(&body);
                let mut headers: Params = vec![
                    param("host", host),
                    param("x-acs-action", self.action),
                    param("x-acs-version", self.version),
                    param("x-acs-date", timestamp),
                    param("x-acs-signature-nonce", nonce),
                    param("x-acs-content-sha256", payload_hash.clone()),
                    param("accept", "application/json"),
                ];
                if self.body.is_some() {
                    headers.push(param("content-type", "application/json"));
                }
                if let Some(token) = &creds.security_token {
                    headers.push(param("x-acs-security-token", token.expose()));
                }
                let authorization = signature::Acs3Request {
                    method: self.method,
                    path: &self.path,
                    query: &self.query,
                    headers: &headers,
                    hashed_payload: &payload_hash,
                }
                .authorization(&creds.access_key_id, creds.access_key_secret.expose());
                if !self.query.is_empty() {
                    url.set_query(Some(&signature::canonical_query(&self.query)));
                }
                headers.push(param("authorization", authorization));
                Ok(SignedRequest {
                    method: self.method,
                    url,
                    headers,
                    body,
                })
            }
            (SignatureMethod::RpcHmacSha1, Style::Rpc) => {
                let mut all = self.query.clone();
                all.extend([
                    param("Action", self.action),
                    param("Version", self.version),
                    param("Format", "JSON"),
                    param("Timestamp", timestamp),
                    param("SignatureNonce", nonce),
                    param("SignatureMethod", "HMAC-SHA1"),
                    param("SignatureVersion", "1.0"),
                    param("AccessKeyId", creds.access_key_id.clone()),
                ]);
                if let Some(token) = &creds.security_token {
                    all.push(param("SecurityToken", token.expose()));
                }
                let to_sign = signature::rpc_string_to_sign(self.method, &all);
                all.push(param(
                    "Signature",
                    signature::rpc_signature(creds.access_key_secret.expose(), &to_sign),
                ));
                url.set_query(Some(&signature::canonical_query(&all)));
                Ok(SignedRequest {
                    method: self.method,
                    url,
                    headers: vec![param("host", host), param("accept", "application/json")],
                    body,
                })
            }
            (SignatureMethod::RpcHmacSha1, Style::Roa) => Err(Error::Config(format!(
                "{}: the HMAC-SHA1 signature signs RPC requests only; use ACS3-HMAC-SHA256",
                self.action
            ))),
        }
    }
}

/// A request ready to send: everything the signature covers, nothing left to compute.
#[derive(Clone)]
pub struct SignedRequest {
    pub method: &'static str,
    pub url: Url,
    pub headers: Params,
    pub body: Vec<u8>,
}

/// Names only: the query and headers hold the signature and the security token, the body may
/// hold a payload.
impl std::fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let query: Vec<String> = self
            .url
            .query_pairs()
            .map(|(name, _)| name.into_owned())
            .collect();
        let headers: Vec<&str> = self.headers.iter().map(|(name, _)| name.as_str()).collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("host", &self.url.host_str())
            .field("path", &self.url.path())
            .field("query_names", &query)
            .field("header_names", &headers)
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openapi::signature::Acs3Authorization;

    fn sign(request: &Request, method: SignatureMethod) -> Result<SignedRequest> {
        let base = Url::parse("https://cs.cn-hangzhou.aliyuncs.com/").unwrap();
        let mut creds = Credentials::access_key("AK", "secret", "test");
        creds.security_token = Some(crate::credentials::SecretString::new("token"));
        request.sign(
            &base,
            "cs.cn-hangzhou.aliyuncs.com",
            method,
            &creds,
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    fn header<'a>(signed: &'a SignedRequest, name: &str) -> &'a str {
        signed
            .headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} header"))
    }

    #[test]
    fn roa_signs_its_path_and_body() {
        let body = br#"{"name":"c"}"#.to_vec();
        let request = Request::roa(
            "2015-12-15",
            "CreateCluster",
            "POST",
            "/clusters",
            Some(body.clone()),
        );
        let signed = sign(&request, SignatureMethod::Acs3HmacSha256).unwrap();
        assert_eq!(
            signed.url.as_str(),
            "https://cs.cn-hangzhou.aliyuncs.com/clusters"
        );
        assert_eq!(signed.body, body);
        assert_eq!(
            header(&signed, "x-acs-content-sha256"),
            signature::sha256_hex(&body)
        );
        let auth = Acs3Authorization::parse(header(&signed, "authorization")).unwrap();
        assert!(auth.signed_headers.contains(&"content-type".to_string()));
        assert!(
            auth.signed_headers
                .contains(&"x-acs-security-token".to_string())
        );

        // The signature covers the path: the same request on another path signs differently.
        let canonical = |path: &str| {
            let headers = [param("host", "h")];
            signature::Acs3Request {
                method: "POST",
                path,
                query: &[],
                headers: &headers,
                hashed_payload: "",
            }
            .canonical()
            .0
        };
        assert_ne!(canonical("/clusters"), canonical("/clusters/x"));
    }

    #[test]
    fn hmac_sha1_signs_rpc_only() {
        let rpc = Request::rpc("2016-01-20", "DescribeKey", vec![param("KeyId", "k")]);
        let signed = sign(&rpc, SignatureMethod::RpcHmacSha1).unwrap();
        let query = signed.url.query().unwrap();
        assert!(query.contains("Action=DescribeKey") && query.contains("Signature="));
        assert!(query.contains("SecurityToken=token"));
        let signature = signed
            .url
            .query_pairs()
            .find(|(name, _)| name == "Signature")
            .unwrap()
            .1
            .into_owned();
        let shown = format!("{signed:?}");
        assert!(
            shown.contains("\"SecurityToken\"") && !shown.contains(&signature),
            "Debug names the parameters, never their values: {shown}"
        );

        let roa = Request::roa("2015-12-15", "DescribeClusters", "GET", "/clusters", None);
        let err = sign(&roa, SignatureMethod::RpcHmacSha1).unwrap_err();
        assert!(err.to_string().contains("RPC requests only"), "{err}");
    }
}
