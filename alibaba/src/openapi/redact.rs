//! Keeping credential material out of error text. A signed RPC request carries `AccessKeyId`,
//! `SecurityToken` and `Signature` in its URL, which reqwest prints in every error; a
//! `SignatureDoesNotMatch` answer quotes the server's string to sign, which holds the
//! `SecurityToken`; and serde quotes the values it could not parse, which in an STS or metadata
//! answer are credentials. Every error this crate builds from such text goes through here, and
//! from there into status, Events, denial messages and logs.

use std::borrow::Cow;

/// Stands in for whatever was removed.
pub const REDACTED: &str = "[redacted]";

/// Request parameters and headers whose values are secrets or sign with one, each with the
/// ways its name and value are joined: as sent, and percent-encoded once or twice (a string to
/// sign encodes the query once more).
const SECRET_FIELDS: &[(&str, &[&str])] = &[
    ("Signature", &["=", "%3D", "%253D"]),
    ("SecurityToken", &["=", "%3D", "%253D"]),
    ("AccessKeySecret", &["=", "%3D", "%253D", "\":\""]),
    ("OIDCToken", &["=", "%3D", "%253D"]),
    ("x-acs-security-token", &[": ", ":", "=", "%3D"]),
];

/// The detail of a failed HTTP exchange: reqwest's message and causes, never the URL (a signed
/// request's URL holds its credentials), each cause once. A timeout says so.
pub(crate) fn transport_detail(error: reqwest::Error) -> String {
    let error = error.without_url();
    let head = if error.is_timeout() {
        "timed out".to_string()
    } else {
        error.to_string()
    };
    crate::error_chain::with_causes(head, &error)
}

/// Why a JSON body did not decode, without the values serde would quote (an STS or metadata
/// answer's values are credentials; a KMS answer's may be plaintext): missing or unknown field
/// names, and the position, are kept.
pub(crate) fn json_error(error: &serde_json::Error) -> String {
    let text = error.to_string();
    let quotes_a_value = ["invalid type", "invalid value", "unknown variant"]
        .iter()
        .any(|p| text.starts_with(p));
    if quotes_a_value || text.contains('"') {
        format!(
            "{:?} json error (value withheld) at line {} column {}",
            error.classify(),
            error.line(),
            error.column()
        )
        .to_lowercase()
    } else {
        text
    }
}

/// `message` (a service's error text) without credential material: the server's string to
/// sign is cut off, `secrets` (and their percent-encoded forms) are replaced, and so is the
/// value of any secret request parameter, with its name.
pub fn scrub(message: &str, secrets: &[&str]) -> String {
    let mut text = match find_ignore_case(message, "string to sign", 0) {
        Some(at) => format!(
            "{} [the server's string to sign withheld]",
            message[..at].trim_end()
        ),
        None => message.to_string(),
    };
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        let once = crate::openapi::signature::percent_encode(secret);
        let twice = crate::openapi::signature::percent_encode(&once);
        for form in [Cow::Borrowed(*secret), Cow::Owned(once), Cow::Owned(twice)] {
            if text.contains(form.as_ref()) {
                text = text.replace(form.as_ref(), REDACTED);
            }
        }
    }
    for (name, separators) in SECRET_FIELDS {
        for separator in *separators {
            text = redact_param(&text, &format!("{name}{separator}"));
        }
    }
    text
}

/// Replaces every `<needle><value>` (case-insensitive needle) with [`REDACTED`]; the value ends
/// at a character that cannot be part of an encoded parameter value.
fn redact_param(text: &str, needle: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(at) = find_ignore_case(text, needle, from) {
        out.push_str(&text[from..at]);
        out.push_str(REDACTED);
        let value = &text[at + needle.len()..];
        let len = value
            .find(|c: char| {
                matches!(c, '&' | ',' | ';' | '"' | '\'' | '<' | '>' | ')') || c.is_whitespace()
            })
            .unwrap_or(value.len());
        from = at + needle.len() + len;
    }
    out.push_str(&text[from..]);
    out
}

/// The byte offset of `needle` in `text` at or after `from`, ASCII case-insensitively.
fn find_ignore_case(text: &str, needle: &str, from: usize) -> Option<usize> {
    let hay = text.as_bytes();
    let needle = needle.as_bytes();
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len()).find(|&i| {
        hay[i..i + needle.len()].eq_ignore_ascii_case(needle) && text.is_char_boundary(i)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "very/secret+key=";
    const TOKEN: &str = "CAIS-token/value==";

    fn assert_clean(text: &str) {
        for leak in [
            SECRET,
            TOKEN,
            "Signature=",
            "Signature%3D",
            "SecurityToken=",
            "SecurityToken%3D",
            "string to sign is:",
        ] {
            assert!(!text.contains(leak), "{leak:?} in {text:?}");
        }
    }

    #[test]
    fn a_signature_mismatch_loses_the_string_to_sign() {
        let message = "Specified signature is not matched with our calculation. server string \
                       to sign is:POST&%2F&AccessKeyId%3DSTS.x%26SecurityToken%3DCAIS-token%252Fvalue%253D%253D";
        let text = scrub(message, &[TOKEN]);
        assert_eq!(
            text,
            "Specified signature is not matched with our calculation. server \
             [the server's string to sign withheld]"
        );
        assert_clean(&text);
    }

    #[test]
    fn echoed_requests_lose_their_secret_parameters_and_values() {
        let encoded = crate::openapi::signature::percent_encode(TOKEN);
        let message = format!(
            "bad request POST /?AccessKeyId=LTAI&SecurityToken={encoded}&Signature=abc%2Bdef HTTP/1.1 \
             authorization: ACS3-HMAC-SHA256 Credential=LTAI,SignedHeaders=host,Signature=0123abcd \
             x-acs-security-token: {TOKEN} secret {SECRET} body OIDCToken=eyJhbGciOi.x.y"
        );
        let text = scrub(&message, &[SECRET, TOKEN]);
        assert_clean(&text);
        assert!(!text.contains("eyJhbGciOi"), "{text}");
        assert!(
            text.contains("AccessKeyId=LTAI"),
            "ids are not secrets: {text}"
        );
        assert!(text.starts_with("bad request POST /?"), "{text}");
    }

    #[test]
    fn ordinary_messages_and_codes_are_kept() {
        for message in [
            "The specified key does not exist.",
            "Request was denied due to user flow control.",
            "InvalidSecurityToken.Expired: the token has expired",
        ] {
            assert_eq!(scrub(message, &[SECRET, ""]), message);
        }
    }

    #[test]
    fn json_errors_keep_field_names_but_not_values() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Creds {
            #[serde(rename = "AccessKeySecret")]
            secret: String,
            #[serde(rename = "Expiration")]
            expiration: u64,
        }
        let missing = serde_json::from_str::<Creds>(r#"{"AccessKeySecret":"s"}"#).unwrap_err();
        assert!(json_error(&missing).contains("missing field `Expiration`"));
        let typed =
            serde_json::from_str::<Creds>(r#"{"AccessKeySecret":"s","Expiration":"SECRET-x"}"#)
                .unwrap_err();
        let shown = json_error(&typed);
        assert!(
            !shown.contains("SECRET-x") && shown.contains("line 1"),
            "{shown}"
        );
        let whole = serde_json::from_str::<Creds>(r#""SECRET-y""#).unwrap_err();
        assert!(!json_error(&whole).contains("SECRET-y"));
    }
}
