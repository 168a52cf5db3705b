//! The thread that advances the engine's epoch, the clock that epoch-interruption deadlines are
//! measured in. One per runtime; it stops (and is joined) when the runtime is dropped.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::Engine;

#[derive(Debug)]
pub(crate) struct EpochTicker {
    /// Dropping the sender wakes the thread at once and ends it.
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    pub(crate) fn start(engine: Engine, tick: Duration) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("secretkms-policy-epoch".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(tick) {
                        Err(RecvTimeoutError::Timeout) => engine.increment_epoch(),
                        Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and increments a counter; it cannot panic, and if it somehow
            // did there is nothing left to clean up.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn dropping_the_ticker_stops_its_thread_at_once() {
        let ticker = EpochTicker::start(Engine::default(), Duration::from_secs(3600)).unwrap();
        let started = Instant::now();
        drop(ticker);
        // The thread sleeps an hour between ticks; the drop wakes and joins it.
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
