//! Keeps admission warnings within what the kube-apiserver passes on, for policies (each verdict)
//! and for the webhook (the merged decision) alike.
//!
//! The apiserver (`k8s.io/apiserver/pkg/endpoints/filters/warning.go`) counts warnings in
//! characters (runes), not bytes: once their total passes 4096 characters it cuts every warning
//! to 256 characters and drops the ones that no longer fit, without saying so. It also drops, one
//! by one, warnings that contain control characters (`NewWarningHeader` refuses them), and
//! repeats of a warning already sent. So here each warning has its control characters and
//! whitespace runs turned into single spaces, is cut to 256 characters ending in `…`, repeats are
//! dropped, and warnings stop before the total reaches 4096 characters, with a last one saying
//! how many were left out.

/// Longest warning, in characters, that the apiserver never cuts.
pub const MAX_WARNING_CHARS: usize = 256;
/// Total characters of warnings the apiserver passes on uncut, the note on left-out ones
/// included.
pub const MAX_TOTAL_WARNING_CHARS: usize = 4096;
/// Room kept within [`MAX_TOTAL_WARNING_CHARS`] for the note on left-out warnings.
const NOTE_RESERVE_CHARS: usize = 96;
/// Marks a warning that was cut.
const CUT_MARK: char = '…';

/// Makes one warning safe to send: control characters and runs of whitespace become one space,
/// and text past [`MAX_WARNING_CHARS`] is cut, ending with `…`.
pub fn fit_warning(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    let words = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty());
    for word in words {
        if chars > MAX_WARNING_CHARS {
            break; // it will be cut: the rest does not matter
        }
        if !out.is_empty() {
            out.push(' ');
            chars += 1;
        }
        out.push_str(word);
        chars += word.chars().count();
    }
    if chars > MAX_WARNING_CHARS {
        let keep = out
            .char_indices()
            .nth(MAX_WARNING_CHARS - 1)
            .map_or(out.len(), |(at, _)| at);
        out.truncate(keep);
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push(CUT_MARK);
    }
    out
}

/// Collects the warnings of one answer: each fitted with [`fit_warning`], repeats dropped, and
/// at most [`MAX_TOTAL_WARNING_CHARS`] characters in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Warnings {
    kept: Vec<String>,
    chars: usize,
    dropped: usize,
}

impl Warnings {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a warning unless it is empty, repeats one already kept, or would pass the budget.
    pub fn push(&mut self, text: impl AsRef<str>) {
        let fitted = fit_warning(text.as_ref());
        if fitted.is_empty() || self.kept.contains(&fitted) {
            return;
        }
        let len = fitted.chars().count();
        if self.chars + len > MAX_TOTAL_WARNING_CHARS - NOTE_RESERVE_CHARS {
            self.dropped += 1;
            return;
        }
        self.chars += len;
        self.kept.push(fitted);
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.dropped == 0
    }

    /// How many warnings [`Warnings::into_vec`] returns.
    pub fn len(&self) -> usize {
        self.kept.len() + usize::from(self.dropped > 0)
    }

    /// The kept warnings, plus a last one counting those left out, if any.
    pub fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.kept.push(format!(
                "{} more warning(s) left out to stay within the apiserver's limit of \
                 {MAX_TOTAL_WARNING_CHARS} characters",
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

impl<'a> Extend<&'a String> for Warnings {
    fn extend<I: IntoIterator<Item = &'a String>>(&mut self, iter: I) {
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
        assert_eq!(fit_warning("  a\nb\t\tc\u{7}d\u{85}e  "), "a b c d e");
        assert_eq!(fit_warning("\n\t "), "");
    }

    #[test]
    fn long_warnings_are_cut_in_characters_and_marked() {
        for long in ["é".repeat(400), "x".repeat(1000), "ab ".repeat(200)] {
            let fitted = fit_warning(&long);
            assert!(fitted.chars().count() <= MAX_WARNING_CHARS, "{fitted}");
            assert!(fitted.chars().count() >= MAX_WARNING_CHARS - 2, "{fitted}");
            assert!(fitted.ends_with('…'), "{fitted}");
            assert!(!fitted.contains(" …"), "{fitted}");
        }
        let exact = "é".repeat(MAX_WARNING_CHARS);
        assert_eq!(
            fit_warning(&exact),
            exact,
            "a warning at the limit is not cut"
        );
        let one_more = "é".repeat(MAX_WARNING_CHARS + 1);
        assert_eq!(fit_warning(&one_more).chars().count(), MAX_WARNING_CHARS);
    }

    #[test]
    fn a_space_at_the_limit_is_not_kept_before_the_mark() {
        let text = format!("{} tail", "x".repeat(MAX_WARNING_CHARS - 2));
        let fitted = fit_warning(&text);
        assert_eq!(fitted, format!("{}…", "x".repeat(MAX_WARNING_CHARS - 2)));
    }

    #[test]
    fn repeats_are_dropped_after_fitting() {
        let mut w = Warnings::new();
        w.push("same");
        w.push("same\n");
        w.push("  same");
        assert_eq!(w.into_vec(), ["same"]);
    }

    #[test]
    fn the_total_stays_within_the_apiserver_budget_and_says_what_was_left_out() {
        let mut w = Warnings::new();
        for i in 0..100 {
            w.push(format!("{i:03} {}", "y".repeat(250)));
        }
        let out = w.into_vec();
        let total: usize = out.iter().map(|w| w.chars().count()).sum();
        assert!(total <= MAX_TOTAL_WARNING_CHARS, "{total}");
        assert!(out.iter().all(|w| w.chars().count() <= MAX_WARNING_CHARS));
        let note = out.last().unwrap();
        assert!(
            note.starts_with(&format!(
                "{} more warning(s) left out",
                100 - (out.len() - 1)
            )),
            "{note}"
        );
        assert!(note.chars().count() <= NOTE_RESERVE_CHARS, "{note}");
    }

    #[test]
    fn multibyte_warnings_count_as_characters() {
        // 15 warnings of 256 two-byte characters: 3840 characters (7680 bytes) all fit.
        let mut w = Warnings::new();
        for c in "àáâãäåæçèéêëìíî".chars() {
            w.push(c.to_string().repeat(MAX_WARNING_CHARS));
        }
        assert_eq!(w.len(), 15);
        assert!(!w.into_vec().last().unwrap().contains("left out"));
    }
}
