//! Where the webhook's facts come from, and the hub that publishes them to the handlers.
//!
//! Probes write through [`StateHub::update`]; handlers read [`StateHub::snapshot`], a lock-free
//! `Arc` load, and compute ages at evaluation time.

pub mod apiserver;
pub mod canary;
pub mod declared;
pub mod kms;
pub mod state_file;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use secretkms_core::observations::Observations;

/// The latest observations, published lock-free.
#[derive(Debug, Default)]
pub struct StateHub {
    current: ArcSwap<Observations>,
    /// Serialises writers so that no update is lost between load and store.
    writer: Mutex<()>,
}

impl StateHub {
    pub fn snapshot(&self) -> Arc<Observations> {
        self.current.load_full()
    }

    /// Applies a change to a copy and publishes it.
    pub fn update(&self, change: impl FnOnce(&mut Observations)) {
        let _guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = Observations::clone(&self.current.load());
        change(&mut next);
        self.current.store(Arc::new(next));
    }
}
