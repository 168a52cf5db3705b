//! An error and its causes as one line, each cause once: reqwest, hyper and rustls nest the
//! reason several levels down, often repeating an outer message in an inner one.

use std::error::Error;

/// `head` followed by the text of each of `error`'s causes (its sources, not `error` itself)
/// that `head` does not already hold, joined by `": "`.
pub fn with_causes(mut head: String, error: &(dyn Error + 'static)) -> String {
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !head.contains(&text) {
            head.push_str(": ");
            head.push_str(&text);
        }
        cause = c.source();
    }
    head
}

/// `error` and its causes as one line, each once.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    with_causes(error.to_string(), error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Layer(&'static str, #[source] Option<Box<Layer>>);

    #[test]
    fn each_cause_appears_once() {
        let inner = Layer("connection refused", None);
        let middle = Layer("connect failed: connection refused", Some(Box::new(inner)));
        let outer = Layer("request failed", Some(Box::new(middle)));
        assert_eq!(
            one_line(&outer),
            "request failed: connect failed: connection refused"
        );
        assert_eq!(
            with_causes("timed out".into(), &outer),
            "timed out: connect failed: connection refused"
        );
    }
}
