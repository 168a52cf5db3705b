//! Keeps admission warnings within what the kube-apiserver passes on.
//!
//! The apiserver documents: "limit warnings to 120 characters if possible; warnings over 256
//! characters and large numbers of warnings may be truncated", and it drops warnings once their
//! total passes 4 KiB. So the kit truncates each warning at a character boundary to 256
//! characters, replaces control characters (which cannot travel in a `Warning` header) with
//! spaces, and stops adding warnings past a total budget, saying how many it left out.

/// The hard per-warning limit, in characters.
pub const MAX_WARNING_CHARS: usize = 256;
/// The length a warning should stay within.
pub const PREFERRED_WARNING_CHARS: usize = 120;
/// Total bytes of warnings one verdict carries; below the apiserver's 4 KiB so several policies'
/// warnings fit together.
pub const MAX_TOTAL_WARNING_BYTES: usize = 2048;

/// Makes one warning safe to send: control characters become spaces, runs of whitespace
/// collapse, and text past [`MAX_WARNING_CHARS`] is cut, ending with `...`.
pub fn fit_warning(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_WARNING_CHARS * 4));
    let mut last_space = true;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
    let trimmed_len = out.trim_end().len();
    out.truncate(trimmed_len);
    if out.chars().count() > MAX_WARNING_CHARS {
        let cut: String = out.chars().take(MAX_WARNING_CHARS - 3).collect();
        out = format!("{}...", cut.trim_end());
    }
    out
}

/// Collects warnings for one verdict: each fitted with [`fit_warning`], duplicates dropped, and
/// at most [`MAX_TOTAL_WARNING_BYTES`] in total.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings {
    kept: Vec<String>,
    bytes: usize,
    dropped: usize,
}

impl Warnings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a warning unless it repeats one already kept or the budget is spent.
    pub fn push(&mut self, text: impl AsRef<str>) {
        let fitted = fit_warning(text.as_ref());
        if fitted.is_empty() || self.kept.contains(&fitted) {
            return;
        }
        if self.bytes + fitted.len() > MAX_TOTAL_WARNING_BYTES {
            self.dropped += 1;
            return;
        }
        self.bytes += fitted.len();
        self.kept.push(fitted);
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    /// The kept warnings, plus a last one counting those left out, if any.
    pub fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.kept.push(format!(
                "{} more secretkms warning(s) left out to stay within the apiserver's limits",
                self.dropped
            ));
        }
        self.kept
    }
}

impl Extend<String> for Warnings {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for w in iter {
            self.push(w);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_warnings_pass_unchanged() {
        assert_eq!(fit_warning("key rotation is off"), "key rotation is off");
    }

    #[test]
    fn control_characters_and_whitespace_runs_become_one_space() {
        assert_eq!(fit_warning("a\nb\t\tc\u{7}d  "), "a b c d");
    }

    #[test]
    fn long_warnings_are_cut_at_a_char_boundary() {
        let long = "é".repeat(400);
        let fitted = fit_warning(&long);
        assert_eq!(fitted.chars().count(), MAX_WARNING_CHARS);
        assert!(fitted.ends_with("..."));
    }

    #[test]
    fn duplicates_are_dropped_and_the_budget_holds() {
        let mut w = Warnings::new();
        w.push("same");
        w.push("same");
        assert_eq!(w.len(), 1);
        for i in 0..100 {
            w.push(format!("{i:03} {}", "x".repeat(100)));
        }
        let out = w.into_vec();
        let total: usize = out.iter().map(String::len).sum();
        assert!(total <= MAX_TOTAL_WARNING_BYTES + 100, "{total}");
        assert!(out.last().unwrap().contains("left out"), "{out:?}");
    }
}
