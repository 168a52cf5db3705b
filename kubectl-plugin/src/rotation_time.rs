//! The ACK rotation convention: after a KMS key rotates, every Secret gets the annotation
//! `encryption-key-rotation-time=<TIME>`, which forces a real write and so a re-encryption with
//! the new key version. TIME defaults to the key's last rotation in the compact `20220101-010101`
//! form, so re-runs after the same rotation agree on the value and skip what is done.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// The annotation ACK documents for the rotation rewrite.
pub const ANNOTATION: &str = "encryption-key-rotation-time";

/// `2021-07-06T18:22:03Z` (KMS's ISO 8601 UTC) → `20210706-182203`.
pub fn from_kms_date(date: &str) -> Result<String, String> {
    let parsed = OffsetDateTime::parse(date.trim(), &Rfc3339)
        .map_err(|e| format!("invalid KMS date {date:?}: {e}"))?;
    Ok(compact(parsed))
}

/// A time in the compact UTC form.
pub fn compact(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year][month][day]-[hour][minute][second]"
        ))
        .expect("a fixed format always formats")
}

/// Parses the compact form back, for the timing rule.
pub fn parse_compact(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(
        text,
        format_description!("[year][month][day]-[hour][minute][second]"),
    )
    .ok()
    .map(|t| t.assume_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kms_dates_become_the_ack_form() {
        assert_eq!(
            from_kms_date("2021-07-06T18:22:03Z").unwrap(),
            "20210706-182203"
        );
        assert_eq!(
            from_kms_date("2022-01-01T09:01:01+08:00").unwrap(),
            "20220101-010101"
        );
        assert!(
            from_kms_date("yesterday")
                .unwrap_err()
                .contains("yesterday")
        );
    }

    #[test]
    fn the_compact_form_round_trips() {
        let t = parse_compact("20220101-010101").unwrap();
        assert_eq!(compact(t), "20220101-010101");
        assert!(parse_compact("2022-01-01").is_none());
    }
}
