//! Each cause printed once. Errors from kube (and some others) put their cause in their message
//! and also return it as `source`, so `{:#}` would print it twice or three times; at the
//! boundary where such an error enters the plugin it is folded into one message that keeps
//! every distinct cause, and no source.

use std::error::Error;

/// `error`'s chain as one line, skipping any cause whose text is already in the line.
pub fn once(error: &(dyn Error + 'static)) -> String {
    secretkms_alibaba::error_chain::one_line(error)
}

/// `error` as an anyhow error whose message holds its whole chain, each cause once.
pub fn folded(error: impl Error + Send + Sync + 'static) -> anyhow::Error {
    anyhow::Error::msg(once(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prints its source in its message and returns it, as kube's errors do.
    #[derive(Debug, thiserror::Error)]
    #[error("failed to read kubeconfig: {0}")]
    struct Both(#[source] std::io::Error);

    /// Returns its source without printing it.
    #[derive(Debug, thiserror::Error)]
    #[error("client error")]
    struct SourceOnly(#[source] Both);

    #[test]
    fn a_cause_in_the_message_is_not_repeated() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = SourceOnly(Both(io));
        assert_eq!(
            format!(
                "{:#}",
                anyhow::Error::new(SourceOnly(Both(std::io::Error::other("x"))))
            ),
            "client error: failed to read kubeconfig: x: x",
            "anyhow alone prints it twice"
        );
        assert_eq!(
            once(&e),
            "client error: failed to read kubeconfig: no such file"
        );
        assert_eq!(
            format!("{:#}", folded(e)),
            "client error: failed to read kubeconfig: no such file"
        );
    }
}
