//! The webhook's integration tests, one binary: the HTTP edge through `router()` with the real
//! compiled policies, and the real binary over TLS.

mod edge;
mod monitor;
mod support;
mod tls;
