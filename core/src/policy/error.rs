//! Why a policy configuration could not be loaded. Every variant names the policy (or the file)
//! and the offending field or value, so an operator can fix the configuration from the message.

use super::EvaluationError;

/// A policy configuration or a policy component was refused at load time.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The configuration file could not be read.
    #[error("cannot read policy configuration {path}")]
    ReadConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The YAML does not parse or does not fit the schema (the message carries the field path).
    #[error("invalid policy configuration {origin}: {message}")]
    ParseConfig { origin: String, message: String },
    /// A field has a value the runtime refuses.
    #[error("policy {policy}: {field}: {message}")]
    Invalid {
        policy: String,
        field: String,
        message: String,
    },
    /// The policy's component file could not be read.
    #[error("policy {policy}: cannot read source {path}")]
    ReadSource {
        policy: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a WebAssembly component wasmtime can compile.
    #[error("policy {policy}: not a valid policy component: {message}")]
    Compile { policy: String, message: String },
    /// The component was built for another contract (another WIT version or world).
    #[error("policy {policy}: {message}")]
    Contract { policy: String, message: String },
    /// `validate-settings` rejected the settings.
    #[error("policy {policy}: settings rejected: {message}")]
    Settings { policy: String, message: String },
    /// `validate-settings` itself failed (trap, deadline, memory).
    #[error("policy {policy}: validate-settings did not complete")]
    SettingsFailed {
        policy: String,
        #[source]
        source: EvaluationError,
    },
    /// The runtime (engine, epoch thread) could not be created.
    #[error("cannot start the policy runtime: {message}")]
    Runtime { message: String },
}

/// Result of loading policies.
pub type Result<T, E = LoadError> = std::result::Result<T, E>;
