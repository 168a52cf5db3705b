//! The ROA HMAC-SHA1 signature the official CS SDK sends by default (`signature_algorithm`
//! `v2`): `Authorization: acs <AccessKeyId>:<base64 HMAC-SHA1>` over the method, the `accept`,
//! `content-md5`, `content-type` and `date` headers, every `x-acs-*` header and the path with its
//! sorted query. The body is not signed (the SDK sends no `content-md5`), as on the real gateway;
//! `date` is the timestamp and `x-acs-signature-nonce` the nonce.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;

use super::{Auth, Incoming, Verified, incomplete, mismatch};
use crate::api_error::ApiError;
use crate::params::Params;
use secretkms_alibaba::openapi::signature::{self, format_timestamp};

/// The SDK's `date` header: `Wed, 02 Dec 2026 03:00:00 GMT`.
fn http_date(text: &str) -> Option<OffsetDateTime> {
    let format: Vec<BorrowedFormatItem<'_>> = time::format_description::parse_borrowed::<2>(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT",
    )
    .ok()?;
    time::PrimitiveDateTime::parse(text, &format)
        .ok()
        .map(|t| t.assume_utc())
}

/// The string the ROA signature signs.
pub fn string_to_sign(
    method: &str,
    path: &str,
    raw_query: &str,
    headers: &[(String, String)],
) -> String {
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, v)| v.as_str())
    };
    let mut acs: Vec<&(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-acs-"))
        .collect();
    acs.sort();
    let mut text = format!(
        "{method}\n{}\n{}\n{}\n{}\n",
        header("accept"),
        header("content-md5"),
        header("content-type"),
        header("date")
    );
    for (name, value) in acs {
        text.push_str(&format!("{name}:{value}\n"));
    }
    text.push_str(path);
    let mut query = Params::default();
    query.parse_into(raw_query);
    let mut pairs = query.0.clone();
    if !pairs.is_empty() {
        pairs.sort();
        let resource: Vec<String> = pairs
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect();
        text.push('?');
        text.push_str(&resource.join("&"));
    }
    text
}

/// Base64 HMAC-SHA1 of `text` under `secret`.
pub fn sign(secret: &str, text: &str) -> String {
    let mut mac =
        Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("hmac accepts any key length");
    mac.update(text.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl Auth {
    pub(super) fn verify_roa(
        &mut self,
        req: &Incoming<'_>,
        authorization: &str,
    ) -> Result<Verified, ApiError> {
        let (id, claimed) = authorization
            .strip_prefix("acs ")
            .and_then(|rest| rest.rsplit_once(':'))
            .ok_or_else(|| incomplete("malformed Authorization header"))?;
        for required in [
            "date",
            "x-acs-action",
            "x-acs-version",
            "x-acs-signature-nonce",
            "x-acs-signature-method",
        ] {
            if Self::header(req.headers, required).is_none() {
                return Err(incomplete(&format!("header {required} is missing")));
            }
        }
        if Self::header(req.headers, "x-acs-signature-method") != Some("HMAC-SHA1") {
            return Err(ApiError::new(
                400,
                "InvalidSignatureMethod",
                "ROA requests are signed with HMAC-SHA1 or ACS3-HMAC-SHA256.",
            ));
        }
        let token = Self::header(req.headers, "x-acs-security-token");
        let secret = self.secret_for(id, token)?;
        let headers: Vec<(String, String)> = req
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let text = string_to_sign(req.method, req.path, req.raw_query, &headers);
        if !signature::constant_time_eq(&sign(&secret, &text), claimed) {
            return Err(mismatch(&text));
        }
        let date = Self::header(req.headers, "date").unwrap_or_default();
        let at = http_date(date).ok_or_else(|| {
            ApiError::new(
                400,
                "IllegalTimestamp",
                format!("The date header {date:?} is not an RFC 1123 GMT date."),
            )
        })?;
        self.check_time_and_nonce(
            &format_timestamp(at),
            Self::header(req.headers, "x-acs-signature-nonce").unwrap_or_default(),
        )?;
        Ok(Verified {
            action: Self::header(req.headers, "x-acs-action")
                .unwrap_or_default()
                .to_string(),
            version: Self::header(req.headers, "x-acs-version")
                .unwrap_or_default()
                .to_string(),
            assumed: self.assumed(id),
            access_key_id: id.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_string_to_sign_follows_the_sdk() {
        let headers: Vec<(String, String)> = [
            ("accept", "application/json"),
            ("content-type", "application/json; charset=utf-8"),
            ("date", "Wed, 02 Dec 2026 03:00:00 GMT"),
            ("x-acs-version", "2015-12-15"),
            ("x-acs-action", "UpdateKMSEncryption"),
            ("host", "h"),
        ]
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            string_to_sign("PUT", "/clusters/c1/kms", "b=2&a=", &headers),
            "PUT\napplication/json\n\napplication/json; charset=utf-8\nWed, 02 Dec 2026 03:00:00 GMT\nx-acs-action:UpdateKMSEncryption\nx-acs-version:2015-12-15\n/clusters/c1/kms?a&b=2"
        );
        assert_eq!(
            http_date("Wed, 02 Dec 2026 03:00:00 GMT").map(format_timestamp),
            Some("2026-12-02T03:00:00Z".into())
        );
    }
}
