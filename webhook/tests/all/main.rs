//! The webhook's integration tests, one binary: the HTTP edge through `router()` with the real
//! compiled policies, and the real binary over TLS.

mod edge;
#[path = "../../../e2e/src/loopback_port.rs"]
mod loopback_port;
mod monitor;
#[path = "../../../core/tests/support/policy_component.rs"]
mod policy_component;
mod startup;
mod support;
mod tls;
