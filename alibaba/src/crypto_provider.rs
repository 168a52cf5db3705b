//! The process's rustls crypto provider, installed in one place for every binary and test.

/// Installs ring as the process's rustls provider; a no-op when a provider is already installed.
///
/// reqwest, kube and axum-server are all built without choosing a provider, so each process must
/// install one before its first TLS handshake. Every entry point calls this rather than naming a
/// provider itself, so the whole workspace agrees on ring.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
