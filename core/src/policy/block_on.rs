//! Drives an evaluation's future to completion on the calling thread, for the synchronous entry
//! points (`kubectl secretkms policy run`, loading, the benchmarks, the large-review path of the
//! webhook that already runs on a blocking thread).
//!
//! Not `futures::executor::block_on`: that one refuses to run inside another of its kind, and a
//! policy's future only ever waits for its own guest (a fiber that yields and wakes itself at
//! once) or a lookup the host made blocking, so parking the thread is all this needs.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `future` until it is ready, parking the thread while it waits.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_for_a_wake_from_another_thread() {
        let (tx, rx) = std::sync::mpsc::channel::<Waker>();
        let mut polls = 0;
        let waker_thread = std::thread::spawn(move || rx.recv().unwrap().wake());
        let got = block_on(std::future::poll_fn(|cx| {
            polls += 1;
            if polls == 1 {
                tx.send(cx.waker().clone()).unwrap();
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        }));
        waker_thread.join().unwrap();
        assert!(got >= 2);
    }

    #[test]
    fn nests() {
        assert_eq!(block_on(async { block_on(async { 7 }) }), 7);
    }
}
