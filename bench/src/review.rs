//! The AdmissionReview sent under load: a realistic Secret CREATE as compact JSON (as the
//! apiserver sends it), with a unique uid per request spliced in without re-serialising.

use std::path::Path;

use anyhow::{Context, bail};
use bytes::Bytes;

const DEFAULT: &str = include_str!("../data/secret-create-review.json");
const MARKER: &str = "@@secretkms-loadgen-uid@@";

/// A review split around its uid.
#[derive(Debug, Clone)]
pub struct Template {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
}

impl Template {
    /// The built-in review, or the one in `path`.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let text = match path {
            Some(p) => {
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?
            }
            None => DEFAULT.to_string(),
        };
        Self::parse(&text).with_context(|| match path {
            Some(p) => format!("review {}", p.display()),
            None => "the built-in review".into(),
        })
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut review: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
        let Some(request) = review.get_mut("request").and_then(|r| r.as_object_mut()) else {
            bail!("no request object");
        };
        request.insert("uid".into(), MARKER.into());
        let compact = serde_json::to_string(&review)?;
        let quoted = format!("\"{MARKER}\"");
        let at = compact
            .find(&quoted)
            .context("uid marker lost in serialisation")?;
        Ok(Self {
            prefix: compact.as_bytes()[..at + 1].to_vec(),
            suffix: compact.as_bytes()[at + quoted.len() - 1..].to_vec(),
        })
    }

    /// The review carrying `uid`.
    pub fn with_uid(&self, uid: &str) -> Bytes {
        let mut body = Vec::with_capacity(self.prefix.len() + uid.len() + self.suffix.len());
        body.extend_from_slice(&self.prefix);
        body.extend_from_slice(uid.as_bytes());
        body.extend_from_slice(&self.suffix);
        body.into()
    }

    /// Size of a review with a UUID-length uid.
    pub fn len(&self) -> usize {
        self.prefix.len() + 36 + self.suffix.len()
    }
}

/// A UUID-shaped uid, unique per (connection, sequence number) within a run.
pub fn uid(connection: usize, seq: u64) -> String {
    format!(
        "{:08x}-0000-4000-8000-{:012x}",
        connection as u32,
        seq & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_is_replaced_and_the_rest_kept() {
        let t = Template::load(None).unwrap();
        let id = uid(3, 42);
        assert_eq!(id.len(), 36);
        let body = t.with_uid(&id);
        assert_eq!(body.len(), t.len());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["request"]["uid"], id.as_str());
        assert_eq!(v["request"]["kind"]["kind"], "Secret");
        assert_eq!(v["request"]["operation"], "CREATE");
        assert!(
            (2_500..4_000).contains(&body.len()),
            "a ~3 KB review: {}",
            body.len()
        );
    }

    #[test]
    fn uids_differ_per_connection_and_sequence() {
        assert_ne!(uid(0, 1), uid(1, 0));
        assert_ne!(uid(0, 1), uid(0, 2));
    }

    #[test]
    fn a_review_without_request_is_refused() {
        assert!(Template::parse(r#"{"kind":"AdmissionReview"}"#).is_err());
        assert!(Template::parse("nope").is_err());
    }
}
