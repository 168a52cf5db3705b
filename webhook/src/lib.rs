//! secretkms-webhook: a TLS validating admission webhook that evaluates WebAssembly policies on
//! Secret writes and on changes to the declared encryption settings, and denies them while Secret
//! encryption is misconfigured.
//!
//! Code map: [`args`] (flags), [`server`] (sockets, TLS, shutdown), [`app`] (routes),
//! [`admission`] (the review handler), [`sources`] (facts → state), [`tls`] (certificates),
//! [`metrics`], [`weakening`] (settings that switch the guard off).

pub mod admission;
pub mod app;
pub mod args;
pub mod connection_cap;
pub mod key_lookup;
pub mod memory_budget;
pub mod metrics;
pub mod server;
pub mod sources;
pub mod status_writer;
pub mod tls;
pub mod weakening;

pub use args::Args;
pub use server::run;

/// The whole program: parse flags from the command line and environment, run, print any error
/// once. Shared by the `secretkms-webhook` binary and the test harness's copy of it.
pub fn main() -> std::process::ExitCode {
    use clap::Parser;
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secretkms-webhook: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
