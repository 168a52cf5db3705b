//! Free loopback ports, never one twice within a process. Plain `std`, so the webhook's own
//! integration tests include this file (`#[path]`) rather than depend on the whole harness.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// A free loopback port, never one this process handed out before. Another process may take
/// it before the caller binds it; callers that start a server on it retry with a new port when
/// the server reports the address in use. Within this process the kernel alone is not enough:
/// it may give a port back as soon as its probe listener closes, and a webhook once got one
/// port for both its admission and its metrics listener.
pub fn unused_loopback_port() -> std::io::Result<u16> {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if HANDED_OUT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(port)
        {
            return Ok(port);
        }
    }
}
