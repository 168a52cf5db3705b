//! Durations as people write them in flags and as the apiserver writes them in `?timeout=`: one
//! parser for every secretkms binary. It lives in this crate only because it is the lowest one
//! they all link; nothing here is specific to Alibaba Cloud.

use std::time::Duration;

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Parses `10s`, `500ms`, `1.5s`, `2m`, `1h30m`, `1h 30m`, `3 days`, or a bare number of seconds
/// (`7`, `0.5`).
///
/// Accepted units are humantime's: `ns`, `us`/`µs`/`usec`, `ms`/`msec`,
/// `s`/`sec`/`second(s)`, `m`/`min`/`minute(s)`, `h`/`hr`/`hour(s)`, `d`/`day(s)`,
/// `w`/`week(s)`, `M`/`month(s)` (30.44 days) and `y`/`year(s)` (365.25 days). Numbers may have
/// a fraction. Zero is a valid duration; callers that need a positive one check for it.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration {text:?}: {why}");
    let t = text.trim();
    if t.is_empty() {
        return Err(invalid("expected e.g. 10s, 500ms, 2m or 1h"));
    }
    if let Some(nanos) = number_nanos(t, NANOS_PER_SECOND) {
        return to_duration(nanos).ok_or_else(|| invalid("too large"));
    }
    let mut total: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_end);
        if number.is_empty() {
            return Err(invalid("expected a number before each unit"));
        }
        let after = after.trim_start();
        let unit_end = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let Some(unit_nanos) = unit_nanos(unit) else {
            return Err(if unit.is_empty() {
                invalid("every number but a lone one needs a unit (ms, s, m, h, ...)")
            } else {
                invalid(&format!("unknown unit {unit:?} (use ms, s, m, h, d, ...)"))
            });
        };
        let nanos = number_nanos(number, unit_nanos)
            .ok_or_else(|| invalid(&format!("{number:?} is not a number")))?;
        total = total
            .checked_add(nanos)
            .ok_or_else(|| invalid("too large"))?;
        rest = after.trim_start();
    }
    to_duration(total).ok_or_else(|| invalid("too large"))
}

/// `number` (digits with an optional fraction) times `unit` nanoseconds, exactly.
fn number_nanos(number: &str, unit: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits_only(whole) || !digits_only(fraction) {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut nanos = whole.checked_mul(unit)?;
    // Digits past the nanosecond cannot matter for any unit up to a year.
    let fraction = &fraction[..fraction.len().min(20)];
    if !fraction.is_empty() {
        let scale = 10u128.pow(fraction.len() as u32);
        nanos = nanos.checked_add(fraction.parse::<u128>().ok()? * unit / scale)?;
    }
    Some(nanos)
}

fn unit_nanos(unit: &str) -> Option<u128> {
    const S: u128 = NANOS_PER_SECOND;
    Some(match unit {
        "ns" | "nsec" => 1,
        "us" | "µs" | "usec" => 1_000,
        "ms" | "msec" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => S,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * S,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600 * S,
        "d" | "day" | "days" => 86_400 * S,
        "w" | "week" | "weeks" => 604_800 * S,
        "M" | "month" | "months" => 2_630_016 * S,
        "y" | "year" | "years" => 31_557_600 * S,
        _ => return None,
    })
}

fn to_duration(nanos: u128) -> Option<Duration> {
    let secs = u64::try_from(nanos / NANOS_PER_SECOND).ok()?;
    Some(Duration::new(secs, (nanos % NANOS_PER_SECOND) as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse(text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn what_the_webhook_and_the_apiserver_write() {
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("2m"), Duration::from_secs(120));
        assert_eq!(ok("1h"), Duration::from_secs(3600));
        assert_eq!(ok("7"), Duration::from_secs(7));
        assert_eq!(ok(" 0 "), Duration::ZERO);
    }

    #[test]
    fn fractions_are_exact() {
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok("0.3s"), Duration::from_millis(300));
        assert_eq!(ok("0.5"), Duration::from_millis(500));
        assert_eq!(ok(".25m"), Duration::from_secs(15));
    }

    #[test]
    fn humantime_forms_still_parse() {
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("1h 30m 5s"), Duration::from_secs(5405));
        assert_eq!(ok("3 days"), Duration::from_secs(3 * 86_400));
        assert_eq!(ok("2w"), Duration::from_secs(14 * 86_400));
        assert_eq!(ok("1M"), Duration::from_secs(2_630_016));
        assert_eq!(ok("1y"), Duration::from_secs(31_557_600));
        assert_eq!(ok("250us"), Duration::from_micros(250));
        assert_eq!(ok("10ns"), Duration::from_nanos(10));
    }

    #[test]
    fn errors_name_the_text() {
        for bad in [
            "",
            "ten",
            "5x",
            "1s 2",
            "s",
            "1..2s",
            "99999999999999999999999y",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
        }
        assert!(parse("5x").unwrap_err().contains("unknown unit \"x\""));
    }
}
