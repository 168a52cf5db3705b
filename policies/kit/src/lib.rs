//! Authoring kit for secretkms policies: the WIT bindings of the `policy` world, a typed view of
//! the AdmissionRequest, verdict and warning helpers, and [`export_policy!`] so that a policy crate
//! is only its decision logic.
//!
//! A policy is a type implementing [`Policy`]. Its logic receives plain Rust values (the generated
//! WIT types and [`AdmissionRequest`]) and a [`KeyLookup`], so it is unit-tested natively (with
//! the `testing` feature: states converted from the shared model [`model`], canned key answers
//! [`CannedKeys`], the `cases/` runner) and compiled to a WebAssembly component unchanged:
//!
//! ```ignore
//! struct MyPolicy;
//! impl secretkms_policy_kit::Policy for MyPolicy { /* ... */ }
//! secretkms_policy_kit::export_policy!(MyPolicy);
//! ```

// Lets the generated code and the export macro name this crate by its external path from inside it.
extern crate self as secretkms_policy_kit;

// The policies' global allocator (wasm32 only); natively only its tests build.
#[cfg(any(all(target_arch = "wasm32", feature = "arena"), test))]
mod arena;
pub mod bindings;
#[cfg(feature = "testing")]
pub mod cases;
#[cfg(feature = "testing")]
mod from_model;
pub mod key_lookup;
pub mod policy;
pub mod request;
pub mod state;
pub mod verdict;

pub use bindings::secretkms::policy::types::{
    ApiserverFacts, Declared, EncryptionState, KeyFacts, KeyState, KmsCheck, PluginFacts,
    RewriteFacts, SecretWriter, SourceStatus, Verdict,
};
pub use key_lookup::KeyLookup;
pub use policy::{Policy, SettingsError, evaluate, parse_settings, validate_settings};
pub use request::{
    AdmissionRequest, Enforcement, GroupVersionKind, ObjectMeta, ObjectView, Operation,
    SecretEncryptionSpec,
};
/// The data hosts and policies share: defaults, warning fitting, and (for tests) the state model,
/// its healthy fixture and the case format.
pub use secretkms_model as model;
#[cfg(feature = "testing")]
pub use secretkms_model::CannedKeys;
pub use secretkms_model::warnings::{Warnings, fit_warning};

/// Re-exported for the code that [`export_policy!`] expands to; not part of the kit's API.
#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;
