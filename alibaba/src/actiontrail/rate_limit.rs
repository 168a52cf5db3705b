//! Spacing of calls to a per-second quota, shared by every clone of a client: each call waits
//! until `1/rate` seconds after the previous one was let through, so a paging loop never bursts.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Lets calls through at most `per_second` times a second.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval: Duration,
    next: Arc<Mutex<Option<Instant>>>,
}

impl RateLimiter {
    /// `per_second` of 0 is taken as 1.
    pub fn per_second(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Arc::new(Mutex::new(None)),
        }
    }

    /// The spacing between two calls.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Waits for this call's turn.
    pub async fn acquire(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        let at = next.map_or(now, |n| n.max(now));
        tokio::time::sleep_until(at).await;
        *next = Some(at + self.interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn calls_are_spaced_by_the_interval() {
        let limiter = RateLimiter::per_second(20);
        assert_eq!(limiter.interval(), Duration::from_millis(50));
        let start = Instant::now();
        for _ in 0..5 {
            limiter.clone().acquire().await;
        }
        // The first goes at once, the next four 50 ms apart, whichever clone asks.
        let elapsed = start.elapsed();
        assert!(
            elapsed >= Duration::from_millis(200) && elapsed < Duration::from_secs(2),
            "{elapsed:?}"
        );
    }
}
