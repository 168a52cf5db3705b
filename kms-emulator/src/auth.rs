//! Request authentication as the OpenAPI gateway does it: V3 (ACS3-HMAC-SHA256), RPC V2
//! (HMAC-SHA1) and, for ROA requests, the ROA HMAC-SHA1 signature ([`roa`]) against configured
//! AccessKeys and the STS credentials this emulator issued, the ±15 minute timestamp window, and
//! single-use nonces.

mod roa;

use std::collections::{HashMap, VecDeque};

use axum::http::HeaderMap;
use base64::Engine as _;
use time::OffsetDateTime;

use crate::api_error::ApiError;
use crate::params::Params;
use secretkms_alibaba::openapi::signature::{self, Acs3Authorization, Acs3Request};

/// How far a request's timestamp may be from the emulator's clock.
pub const MAX_SKEW: time::Duration = time::Duration::minutes(15);
/// Nonces remembered at most; old ones age out after twice the skew window anyway.
const MAX_NONCES: usize = 200_000;

/// Temporary credentials issued by the emulator's STS.
#[derive(Clone)]
pub struct StsCredential {
    pub secret: String,
    pub token: String,
    pub expiration: OffsetDateTime,
    /// The role name and session name the credential was issued for.
    pub assumed: (String, String),
}

impl std::fmt::Debug for StsCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StsCredential")
            .field("expiration", &self.expiration)
            .finish_non_exhaustive()
    }
}

/// A request as the verifier sees it.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
    pub params: &'a Params,
    /// A ROA request (CS): a REST path, and the ROA HMAC-SHA1 signature is accepted.
    pub roa: bool,
}

/// Who signed a request, and what it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub action: String,
    pub version: String,
    pub access_key_id: String,
    /// For STS credentials, the role name and session they were issued for.
    pub assumed: Option<(String, String)>,
}

pub struct Auth {
    access_keys: HashMap<String, String>,
    sts: HashMap<String, StsCredential>,
    nonces: HashMap<String, OffsetDateTime>,
    nonce_order: VecDeque<(String, OffsetDateTime)>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("access_keys", &self.access_keys.keys().collect::<Vec<_>>())
            .field("sts_issued", &self.sts.len())
            .field("nonces", &self.nonces.len())
            .finish()
    }
}

fn incomplete(detail: &str) -> ApiError {
    ApiError::new(
        400,
        "IncompleteSignature",
        format!("The request signature does not conform to Aliyun standards: {detail}"),
    )
}

/// Like the real gateway, the message ends with the server's string-to-sign (it holds no
/// secret), which the legacy SDK compares with its own to report `InvalidAccessKeySecret`.
fn mismatch(string_to_sign: &str) -> ApiError {
    ApiError::new(
        400,
        "SignatureDoesNotMatch",
        format!(
            "Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"
        ),
    )
}

fn random_text(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

impl Auth {
    pub fn new(access_keys: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            access_keys: access_keys.into_iter().collect(),
            sts: HashMap::new(),
            nonces: HashMap::new(),
            nonce_order: VecDeque::new(),
        }
    }

    /// Replaces the long-lived AccessKeys (the account's users changed).
    pub fn set_access_keys(&mut self, access_keys: impl IntoIterator<Item = (String, String)>) {
        self.access_keys = access_keys.into_iter().collect();
    }

    /// Issues STS credentials for `role` and `session` valid for `seconds`; returns
    /// (AccessKeyId, credential).
    pub fn issue_sts(
        &mut self,
        seconds: u64,
        role: &str,
        session: &str,
    ) -> (String, StsCredential) {
        let id = format!("STS.{}", random_text(24));
        let cred = StsCredential {
            secret: random_text(40),
            token: base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 48]>()),
            expiration: OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .unwrap_or(OffsetDateTime::now_utc())
                + time::Duration::seconds(seconds as i64),
            assumed: (role.to_string(), session.to_string()),
        };
        self.sts.insert(id.clone(), cred.clone());
        (id, cred)
    }

    /// Makes every issued STS credential expire now (the expired-token test control).
    pub fn expire_sts(&mut self) -> usize {
        let now = OffsetDateTime::now_utc() - time::Duration::seconds(1);
        self.sts.values_mut().for_each(|c| c.expiration = now);
        self.sts.len()
    }

    /// The role and session of an STS AccessKey id.
    fn assumed(&self, id: &str) -> Option<(String, String)> {
        self.sts.get(id).map(|c| c.assumed.clone())
    }

    /// The secret for `id`, checking an STS credential's token and expiry.
    fn secret_for(&self, id: &str, token: Option<&str>) -> Result<String, ApiError> {
        if let Some(secret) = self.access_keys.get(id) {
            return Ok(secret.clone());
        }
        let Some(sts) = self.sts.get(id) else {
            return Err(ApiError::new(
                404,
                "InvalidAccessKeyId.NotFound",
                "Specified access key is not found.",
            ));
        };
        if !token.is_some_and(|t| signature::constant_time_eq(t, &sts.token)) {
            return Err(ApiError::new(
                400,
                "InvalidSecurityToken.MismatchWithAccessKey",
                "Specified SecurityToken mismatch with the AccessKey.",
            ));
        }
        if sts.expiration <= OffsetDateTime::now_utc() {
            return Err(ApiError::new(
                400,
                "InvalidSecurityToken.Expired",
                "Specified SecurityToken is expired.",
            ));
        }
        Ok(sts.secret.clone())
    }

    fn check_time_and_nonce(&mut self, timestamp: &str, nonce: &str) -> Result<(), ApiError> {
        let now = OffsetDateTime::now_utc();
        let at = signature::parse_timestamp(timestamp).ok_or_else(|| {
            ApiError::new(
                400,
                "IllegalTimestamp",
                format!("The input timestamp {timestamp:?} is not in yyyy-MM-ddTHH:mm:ssZ format."),
            )
        })?;
        if (now - at).abs() > MAX_SKEW {
            return Err(ApiError::new(
                400,
                "IllegalTimestamp",
                format!(
                    "Specified time stamp or date value {timestamp} is not within 15 minutes of the server time."
                ),
            ));
        }
        if nonce.is_empty() {
            return Err(incomplete("SignatureNonce is missing"));
        }
        while let Some((old, seen)) = self.nonce_order.front() {
            if now - *seen > MAX_SKEW * 2 || self.nonce_order.len() >= MAX_NONCES {
                self.nonces.remove(old);
                self.nonce_order.pop_front();
            } else {
                break;
            }
        }
        if self.nonces.contains_key(nonce) {
            return Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        self.nonces.insert(nonce.to_string(), now);
        self.nonce_order.push_back((nonce.to_string(), now));
        Ok(())
    }

    /// Verifies whichever signature the request carries.
    pub fn verify(&mut self, req: &Incoming<'_>) -> Result<Verified, ApiError> {
        match req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
        {
            Some(auth) if auth.starts_with("ACS3-") => self.verify_v3(req, auth),
            Some(auth) if req.roa && auth.starts_with("acs ") => self.verify_roa(req, auth),
            _ if req.params.get("Signature").is_some() => self.verify_v2(req),
            _ => Err(incomplete(
                "neither an Authorization header nor a Signature parameter was sent",
            )),
        }
    }

    fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
        headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn verify_v3(&mut self, req: &Incoming<'_>, authorization: &str) -> Result<Verified, ApiError> {
        let auth = Acs3Authorization::parse(authorization)
            .ok_or_else(|| incomplete("malformed Authorization header"))?;
        if auth.algorithm != signature::ACS3_HMAC_SHA256 {
            return Err(ApiError::new(
                400,
                "InvalidSignatureMethod",
                format!("Signature method {} is not supported.", auth.algorithm),
            ));
        }
        for required in [
            "host",
            "x-acs-action",
            "x-acs-version",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-content-sha256",
        ] {
            if Self::header(req.headers, required).is_none() {
                return Err(incomplete(&format!("header {required} is missing")));
            }
            if !auth.signed_headers.iter().any(|h| h == required) {
                return Err(incomplete(&format!("header {required} is not signed")));
            }
        }
        // Every x-acs-* header and content-type must be covered, so none can be altered.
        for name in req.headers.keys() {
            let name = name.as_str();
            if (name.starts_with("x-acs-") || name == "content-type")
                && !auth.signed_headers.iter().any(|h| h == name)
            {
                return Err(incomplete(&format!("header {name} is not signed")));
            }
        }
        let token = Self::header(req.headers, "x-acs-security-token");
        let secret = self.secret_for(&auth.access_key_id, token)?;
        let content_sha = Self::header(req.headers, "x-acs-content-sha256").unwrap_or_default();
        if !content_sha.eq_ignore_ascii_case(&signature::sha256_hex(req.body)) {
            return Err(ApiError::new(
                400,
                "SignatureDoesNotMatch",
                "x-acs-content-sha256 does not match the request body.",
            ));
        }
        let mut headers = Vec::new();
        for name in &auth.signed_headers {
            let values: Vec<_> = req
                .headers
                .get_all(name.as_str())
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            if values.is_empty() {
                return Err(incomplete(&format!("signed header {name} is missing")));
            }
            headers.extend(values.into_iter().map(|v| (name.clone(), v.to_string())));
        }
        let mut query = Params::default();
        query.parse_into(req.raw_query);
        let (string_to_sign, _) = Acs3Request {
            method: req.method,
            path: req.path,
            query: &query.0,
            headers: &headers,
            hashed_payload: content_sha,
        }
        .string_to_sign();
        let expected = signature::acs3_signature(&secret, &string_to_sign);
        if !signature::constant_time_eq(&expected, &auth.signature.to_ascii_lowercase()) {
            return Err(mismatch(&string_to_sign));
        }
        self.check_time_and_nonce(
            Self::header(req.headers, "x-acs-date").unwrap_or_default(),
            Self::header(req.headers, "x-acs-signature-nonce").unwrap_or_default(),
        )?;
        Ok(Verified {
            action: Self::header(req.headers, "x-acs-action")
                .unwrap_or_default()
                .to_string(),
            version: Self::header(req.headers, "x-acs-version")
                .unwrap_or_default()
                .to_string(),
            assumed: self.assumed(&auth.access_key_id),
            access_key_id: auth.access_key_id,
        })
    }

    fn verify_v2(&mut self, req: &Incoming<'_>) -> Result<Verified, ApiError> {
        let p = req.params;
        for required in [
            "AccessKeyId",
            "SignatureMethod",
            "SignatureVersion",
            "SignatureNonce",
            "Timestamp",
            "Action",
            "Version",
        ] {
            if p.opt(required).is_none() {
                return Err(incomplete(&format!("parameter {required} is missing")));
            }
        }
        if p.get("SignatureMethod") != Some("HMAC-SHA1") || p.get("SignatureVersion") != Some("1.0")
        {
            return Err(ApiError::new(
                400,
                "InvalidSignatureMethod",
                "Only SignatureMethod HMAC-SHA1 with SignatureVersion 1.0 is supported.",
            ));
        }
        let id = p.get("AccessKeyId").unwrap_or_default().to_string();
        let secret = self.secret_for(&id, p.opt("SecurityToken"))?;
        let string_to_sign = signature::rpc_string_to_sign(req.method, &p.without("Signature"));
        let expected = signature::rpc_signature(&secret, &string_to_sign);
        if !signature::constant_time_eq(&expected, p.get("Signature").unwrap_or_default()) {
            return Err(mismatch(&string_to_sign));
        }
        self.check_time_and_nonce(
            p.get("Timestamp").unwrap_or_default(),
            p.get("SignatureNonce").unwrap_or_default(),
        )?;
        Ok(Verified {
            action: p.get("Action").unwrap_or_default().to_string(),
            version: p.get("Version").unwrap_or_default().to_string(),
            assumed: self.assumed(&id),
            access_key_id: id,
        })
    }
}
