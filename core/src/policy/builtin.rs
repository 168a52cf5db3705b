//! The default policies, embedded in the binary so that the webhook with no configuration file is
//! a working guard. The components are built by `policies/build.sh` and committed under
//! `policies/dist/`, so building this crate needs no WebAssembly toolchain.

use super::rule::{Operation, Rule};

const SECRET_WRITE_GUARD: &[u8] = include_bytes!("../../../policies/dist/secret-write-guard.wasm");
const KEY_CHANGE_GUARD: &[u8] = include_bytes!("../../../policies/dist/key-change-guard.wasm");

/// A policy shipped inside secretkms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// Denies Secret writes while encryption at rest is misconfigured.
    SecretWriteGuard,
    /// Denies changes of the declared encryption settings to a key that cannot work.
    KeyChangeGuard,
}

impl Builtin {
    pub const ALL: [Builtin; 2] = [Builtin::SecretWriteGuard, Builtin::KeyChangeGuard];

    /// The policy's name, also its default name in a configuration.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::SecretWriteGuard => "secret-write-guard",
            Builtin::KeyChangeGuard => "key-change-guard",
        }
    }

    /// How a configuration refers to it: `builtin:<name>`.
    pub fn source_name(self) -> &'static str {
        match self {
            Builtin::SecretWriteGuard => "builtin:secret-write-guard",
            Builtin::KeyChangeGuard => "builtin:key-change-guard",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.name() == name)
    }

    /// The component bytes.
    pub fn component(self) -> &'static [u8] {
        match self {
            Builtin::SecretWriteGuard => SECRET_WRITE_GUARD,
            Builtin::KeyChangeGuard => KEY_CHANGE_GUARD,
        }
    }

    /// The requests the policy is written for. Secret DELETE is deliberately absent: removing a
    /// Secret never needs the KMS, so it is never blocked.
    pub fn default_rules(self) -> Vec<Rule> {
        use Operation::*;
        match self {
            Builtin::SecretWriteGuard => {
                vec![Rule::new(&[""], &["v1"], &["secrets"], &[Create, Update])]
            }
            Builtin::KeyChangeGuard => {
                vec![Rule::new(
                    &["secretkms.io"],
                    &["*"],
                    &["secretencryptions"],
                    &[Create, Update, Delete],
                )]
            }
        }
    }
}
