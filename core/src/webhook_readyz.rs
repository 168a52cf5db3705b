//! The webhook's `/readyz` body, written by the webhook and read by `kubectl secretkms status`:
//! `ok` or `not ready: <why>`, then one line per weakening of the guard accepted at start.

/// The prefix of a weakening's line.
pub const WEAKENED_PREFIX: &str = "weakened: ";

/// The body for readiness `first` (the `ok` / `not ready` line) and `weakenings`.
pub fn body(first: &str, weakenings: impl IntoIterator<Item = impl std::fmt::Display>) -> String {
    let mut out = first.to_string();
    for w in weakenings {
        out.push_str(&format!("\n{WEAKENED_PREFIX}{w}"));
    }
    out
}

/// The weakenings a body names.
pub fn weakenings(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix(WEAKENED_PREFIX))
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weakenings_survive_the_round_trip() {
        let list = [
            "state file /s.json overrides the live sources it sets",
            "no policies",
        ];
        let text = body("ok", list);
        assert_eq!(
            text,
            "ok\nweakened: state file /s.json overrides the live sources it sets\nweakened: no policies"
        );
        assert_eq!(weakenings(&text), list);
        assert!(weakenings("ok").is_empty());
    }
}
