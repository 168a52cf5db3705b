//! Progress of a rewrite: an indicatif bar with rate and ETA on a terminal, a plain line every
//! few seconds otherwise (CI logs, `| tee`), nothing with `-o json|yaml` to a pipe.

use std::io::IsTerminal as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::adaptive::Figures;

/// Where progress goes; updated from every worker.
#[derive(Debug)]
pub enum Progress {
    Bar(ProgressBar),
    Lines {
        started: Instant,
        last: Mutex<Instant>,
        every: Duration,
        state: Mutex<(u64, u64)>,
        window: Mutex<String>,
    },
    Quiet,
}

impl Progress {
    /// A bar on a terminal stderr, plain lines otherwise; `quiet` turns both off.
    pub fn for_stderr(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} Secrets {per_sec} ETA {eta} {msg}",
                )
                .expect("a fixed template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Self::Bar(bar)
        } else {
            Self::lines(Duration::from_secs(5))
        }
    }

    pub fn lines(every: Duration) -> Self {
        let now = Instant::now();
        Self::Lines {
            started: now,
            last: Mutex::new(now),
            every,
            state: Mutex::new((0, 0)),
            window: Mutex::default(),
        }
    }

    /// The total became known (or grew: the listing's estimate is `remainingItemCount`).
    pub fn set_total(&self, total: u64) {
        match self {
            Self::Bar(bar) => bar.set_length(total),
            Self::Lines { state, .. } => state.lock().expect("not poisoned").1 = total,
            Self::Quiet => {}
        }
    }

    /// The concurrency window changed (or a 429 came).
    pub fn set_concurrency(&self, f: Figures) {
        let text = format!(
            "concurrency {}, {} throttled",
            f.final_concurrency, f.throttled
        );
        match self {
            Self::Bar(bar) => bar.set_message(text),
            Self::Lines { window, .. } => *window.lock().expect("not poisoned") = text,
            Self::Quiet => {}
        }
    }

    /// One more Secret handled (patched, skipped or failed).
    pub fn inc(&self) {
        match self {
            Self::Bar(bar) => bar.inc(1),
            Self::Lines {
                started,
                last,
                every,
                state,
                window,
            } => {
                let (done, total) = {
                    let mut s = state.lock().expect("not poisoned");
                    s.0 += 1;
                    *s
                };
                let mut last = last.lock().expect("not poisoned");
                if last.elapsed() >= *every {
                    *last = Instant::now();
                    let rate = done as f64 / started.elapsed().as_secs_f64().max(0.001);
                    let window = window.lock().expect("not poisoned");
                    let sep = if window.is_empty() { "" } else { ", " };
                    eprintln!("rewrite: {done}/{total} Secrets handled, {rate:.0}/s{sep}{window}");
                }
            }
            Self::Quiet => {}
        }
    }

    pub fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
