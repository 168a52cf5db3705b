//! When a rewrite may start. A KMS v2 apiserver keeps writing with the old key_id for up to
//! 3 minutes of DEK coasting after its plugin's Status first reports the new one, polls Status
//! about once a minute, and the plugin itself needs N minutes to notice a rotation; upstream
//! says start `3 + N + 5` minutes after the rotation (kms-provider.md). Where `/metrics` is
//! readable, the apiserver's `key_id_hash` gauges answer directly (`rotation_reach`).

use std::time::Duration;

use time::OffsetDateTime;

/// The coasting limit of a write DEK after Status errors or a key_id change.
pub const COASTING: Duration = Duration::from_secs(3 * 60);
/// The safety buffer upstream recommends on top.
pub const BUFFER: Duration = Duration::from_secs(5 * 60);

/// The earliest safe start after a rotation at `rotated`, with the plugin needing `pickup`.
pub fn safe_after(rotated: OffsetDateTime, pickup: Duration) -> OffsetDateTime {
    rotated + COASTING + pickup + BUFFER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_is_three_plus_n_plus_five_minutes() {
        let rotated = time::macros::datetime!(2026-01-01 00:00 UTC);
        assert_eq!(
            safe_after(rotated, Duration::from_secs(60)),
            time::macros::datetime!(2026-01-01 00:09 UTC)
        );
    }
}
