//! How many patches a rewrite keeps in flight: an AIMD window that adapts to what the apiserver
//! sustains. It grows by one per round (a round is `limit` completed patches, about one
//! round-trip at the current window) while a round's median latency stays under twice the
//! baseline (the latency of a low window: see [`BASELINE_WINDOW`]), shrinks by a quarter (not
//! below its start) when it does not (the apiserver is queueing), and halves on 429 or 5xx.
//! Only requests sent after the last cut count, so one overload is answered once (TCP's once
//! per RTT), and the limiter stops new requests for the Retry-After the apiserver asked for.
//! Waiting is a tokio sleep or a `Notify`, never a poll, so waiting costs no CPU.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// The window a rewrite starts at (or `--concurrency`, when lower).
pub const INITIAL: usize = 8;
/// A round whose median latency exceeds this multiple of the baseline shrinks the window.
const LATENCY_GROWTH: u32 = 2;
/// Rounds at this window or below set the baseline: the latency of a window too small to queue
/// in the apiserver, which the window's latency is measured against. Only low windows may set
/// it, or a window grown into the queue would become its own baseline and grow without end. It
/// is a running average of those rounds' medians, not their minimum: on a shared machine a
/// round's median has a long lower tail (a round that found the cores idle), and the minimum of
/// many rounds was that tail, ~0.3–0.5 of a low window's typical latency, so twice it was
/// crossed at once and the window stayed at its start (seen in a trace of a 5,000-Secret run:
/// a first round at 2.7 ms, then 6–12 ms at 8 in flight for the next 64 rounds). Each round
/// at a low window moves the average a quarter of the way ([`BASELINE_WEIGHT`]), so a wrong
/// start is corrected within a few rounds and a lasting change of the apiserver is followed
/// whenever the window comes back down.
const BASELINE_WINDOW: usize = INITIAL + INITIAL / 4;
/// The share of the baseline a new low-window round replaces.
const BASELINE_WEIGHT: u32 = 4;
/// The longest pause a Retry-After can impose.
const MAX_PAUSE: Duration = Duration::from_secs(60);

/// What a finished request tells the limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served; its latency counts.
    Served,
    /// 429: the apiserver's flow control rejected it.
    Throttled,
    /// 5xx or a transport error: the apiserver or etcd is struggling.
    Overloaded,
    /// Says nothing about load (a 404, a 4xx verdict, a dropped future).
    Neutral,
}

/// The shared window; every patch takes a [`Permit`] from it.
#[derive(Debug)]
pub struct Adaptive {
    ceiling: usize,
    adapt: bool,
    state: Mutex<State>,
    wake: Notify,
    throttled: AtomicU64,
}

#[derive(Debug)]
struct State {
    limit: usize,
    peak: usize,
    in_flight: usize,
    paused_until: Option<Instant>,
    /// Latencies of this round's served patches.
    round: Vec<Duration>,
    /// See [`BASELINE_WINDOW`]; none until the first round.
    baseline: Option<Duration>,
    /// Bumped by every cut; permits taken before it no longer steer the window.
    epoch: u64,
}

/// The limiter's figures for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// The window when the rewrite ended.
    pub final_concurrency: usize,
    /// The largest window reached.
    pub peak_concurrency: usize,
    /// 429 responses seen.
    pub throttled: u64,
}

impl Adaptive {
    /// A window capped at `ceiling`; with `adapt` false it stays at `ceiling` (still honouring
    /// Retry-After).
    pub fn new(ceiling: usize, adapt: bool) -> Self {
        let ceiling = ceiling.max(1);
        let limit = if adapt { INITIAL.min(ceiling) } else { ceiling };
        Self {
            ceiling,
            adapt,
            state: Mutex::new(State {
                limit,
                peak: limit,
                in_flight: 0,
                paused_until: None,
                round: Vec::with_capacity(limit),
                baseline: None,
                epoch: 0,
            }),
            wake: Notify::new(),
            throttled: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("not poisoned")
    }

    /// The current window.
    pub fn limit(&self) -> usize {
        self.state().limit
    }

    pub fn figures(&self) -> Figures {
        let s = self.state();
        Figures {
            final_concurrency: s.limit,
            peak_concurrency: s.peak,
            throttled: self.throttled.load(Relaxed),
        }
    }

    /// Waits until the apiserver's pause is over and the window has room.
    pub async fn acquire(&self) -> Permit<'_> {
        loop {
            // Registered before the lock is released, so a release in between is not missed.
            let notified = self.wake.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let pause = {
                let mut s = self.state();
                match s.paused_until {
                    Some(until) if until > Instant::now() => Some(until),
                    _ => {
                        s.paused_until = None;
                        if s.in_flight < s.limit {
                            s.in_flight += 1;
                            return Permit {
                                adaptive: self,
                                epoch: s.epoch,
                                started: Instant::now(),
                                done: false,
                            };
                        }
                        None
                    }
                }
            };
            match pause {
                Some(until) => tokio::time::sleep_until(until).await,
                None => notified.await,
            }
        }
    }

    /// Waits out a pause the apiserver asked for (the listing's requests take no permit).
    pub async fn unpaused(&self) {
        loop {
            let until = self.state().paused_until;
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// A 429 was answered (seen by the client's response layer, for every request).
    pub fn count_throttled(&self) {
        self.throttled.fetch_add(1, Relaxed);
    }

    /// The apiserver asked for `retry_after` without new requests (429 or 503 Retry-After).
    pub fn pause_for(&self, retry_after: Duration) {
        let until = Instant::now() + retry_after.min(MAX_PAUSE);
        let mut s = self.state();
        if s.paused_until.is_none_or(|u| u < until) {
            s.paused_until = Some(until);
        }
    }

    /// Returns whether the window changed.
    fn finish(&self, epoch: u64, latency: Duration, outcome: Outcome) -> bool {
        let mut s = self.state();
        s.in_flight -= 1;
        let before = s.limit;
        if self.adapt && epoch == s.epoch {
            match outcome {
                Outcome::Served => s.served(latency, self.ceiling),
                Outcome::Throttled | Outcome::Overloaded => s.cut(before / 2),
                Outcome::Neutral => {}
            }
            s.peak = s.peak.max(s.limit);
        }
        let changed = s.limit != before;
        drop(s);
        if changed {
            self.wake.notify_waiters();
        }
        // The freed slot; notify_one keeps it for the next waiter if none is registered yet.
        self.wake.notify_one();
        changed
    }
}

impl State {
    fn served(&mut self, latency: Duration, ceiling: usize) {
        self.round.push(latency);
        if self.round.len() < self.limit {
            return;
        }
        let mid = self.round.len() / 2;
        let median = *self.round.select_nth_unstable(mid).1;
        self.round.clear();
        // Judged against the baseline before this round moves it.
        let baseline = self.baseline;
        if self.limit <= BASELINE_WINDOW {
            self.baseline = Some(baseline.map_or(median, |b| {
                (b * (BASELINE_WEIGHT - 1) + median) / BASELINE_WEIGHT
            }));
        }
        if baseline.is_some_and(|b| median > b * LATENCY_GROWTH) {
            // Latency alone never takes the window below where it started: 8 in flight is
            // polite, and latency is noisy on a shared machine; only 429 and 5xx go lower.
            if self.limit > INITIAL {
                self.cut((self.limit - self.limit / 4).max(INITIAL));
            }
        } else if self.limit < ceiling {
            self.limit += 1;
        }
    }

    /// Shrinks to `to` (at least 1, and at least one less) and starts a new epoch.
    fn cut(&mut self, to: usize) {
        self.epoch += 1;
        self.limit = to.min(self.limit - 1).max(1);
        self.round.clear();
    }
}

/// One request's place in the window; [`Permit::finish`] reports how it went, dropping it
/// unfinished counts as [`Outcome::Neutral`].
#[derive(Debug)]
pub struct Permit<'a> {
    adaptive: &'a Adaptive,
    epoch: u64,
    started: Instant,
    done: bool,
}

impl Permit<'_> {
    /// Returns whether the window changed.
    pub fn finish(mut self, outcome: Outcome) -> bool {
        self.done = true;
        self.adaptive
            .finish(self.epoch, self.started.elapsed(), outcome)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.adaptive
                .finish(self.epoch, self.started.elapsed(), Outcome::Neutral);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Runs one full round of `limit` patches that each take `latency`.
    async fn round(a: &Adaptive, latency: Duration, outcome: Outcome) {
        let mut permits = Vec::new();
        for _ in 0..a.limit() {
            permits.push(a.acquire().await);
        }
        tokio::time::advance(latency).await;
        for p in permits {
            p.finish(outcome);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn grows_by_one_per_round_while_latency_holds_up_to_the_ceiling() {
        let a = Adaptive::new(12, true);
        assert_eq!(a.limit(), INITIAL);
        for expected in 9..=12 {
            round(&a, 10 * MS, Outcome::Served).await;
            assert_eq!(a.limit(), expected);
        }
        round(&a, 19 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), 12, "the ceiling holds");
        assert_eq!(
            a.figures(),
            Figures {
                final_concurrency: 12,
                peak_concurrency: 12,
                throttled: 0
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn latency_beyond_twice_the_baseline_shrinks_the_window_by_a_quarter() {
        let a = Adaptive::new(64, true);
        for _ in 0..8 {
            round(&a, 10 * MS, Outcome::Served).await;
        }
        assert_eq!(a.limit(), 16);
        round(&a, 20 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), 17, "twice the baseline is still fine");
        round(&a, 21 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), 13);
        round(&a, 10 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), 14, "grows again once latency is back");
        assert_eq!(a.figures().peak_concurrency, 17);
    }

    #[tokio::test(start_paused = true)]
    async fn a_fast_first_round_is_outgrown_and_a_grown_window_never_sets_the_baseline() {
        let a = Adaptive::new(64, true);
        // The round that found the apiserver idle, then the latency of 8 in flight: the old
        // minimum-of-rounds baseline held the window at 8 from here on.
        round(&a, 2 * MS, Outcome::Served).await;
        for _ in 0..2 {
            round(&a, 8 * MS, Outcome::Served).await;
        }
        assert_eq!(
            a.limit(),
            INITIAL,
            "judged against the fast round, the window held"
        );
        for _ in 0..2 {
            round(&a, 8 * MS, Outcome::Served).await;
        }
        assert!(
            a.limit() > INITIAL,
            "the baseline followed the low window's latency"
        );
        while a.limit() <= BASELINE_WINDOW {
            round(&a, 8 * MS, Outcome::Served).await;
        }
        // Rounds above BASELINE_WINDOW at 12 ms must not drag the baseline along (it would
        // reach 12 ms and take 20 ms as fine): twice the low window's latency still cuts.
        while a.limit() < 20 {
            round(&a, 12 * MS, Outcome::Served).await;
        }
        let grown = a.limit();
        round(&a, 20 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), grown - grown / 4);
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_halves_once_per_round_and_fixed_windows_never_move() {
        let a = Adaptive::new(64, true);
        round(&a, 10 * MS, Outcome::Throttled).await;
        assert_eq!(a.limit(), 4, "eight 429s sent together halve once");
        round(&a, 10 * MS, Outcome::Overloaded).await;
        assert_eq!(a.limit(), 2);
        round(&a, 10 * MS, Outcome::Throttled).await;
        round(&a, 10 * MS, Outcome::Throttled).await;
        assert_eq!(a.limit(), 1, "never below one");
        round(&a, 10 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), 2);
        round(&a, 50 * MS, Outcome::Served).await;
        assert_eq!(a.limit(), 2, "latency alone never cuts below the start");

        let fixed = Adaptive::new(16, false);
        round(&fixed, 10 * MS, Outcome::Throttled).await;
        round(&fixed, 10 * MS, Outcome::Served).await;
        assert_eq!(fixed.limit(), 16);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_window_waits_for_a_free_slot() {
        let a = Adaptive::new(1, true);
        let first = a.acquire().await;
        let second = a.acquire();
        tokio::pin!(second);
        assert!(futures::poll!(second.as_mut()).is_pending());
        drop(first);
        assert!(futures::poll!(second.as_mut()).is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_stops_new_requests_until_it_is_over() {
        let a = Adaptive::new(8, true);
        a.pause_for(Duration::from_secs(2));
        a.count_throttled();
        let waiting = a.acquire();
        tokio::pin!(waiting);
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        tokio::time::advance(MS).await;
        assert!(futures::poll!(waiting.as_mut()).is_ready());
        assert_eq!(a.figures().throttled, 1);
        let listing = a.unpaused();
        tokio::pin!(listing);
        assert!(futures::poll!(listing.as_mut()).is_ready());
    }
}
