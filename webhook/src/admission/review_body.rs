//! The one extractor of `POST /validate`: the content type, the body size and the apiserver's
//! deadline are checked here, before anything is decoded, so the handler starts from a body it
//! may decode and a deadline it must meet.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};
use http_body_util::LengthLimitError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::Failure;
use crate::app::App;

/// Time kept back from the apiserver's deadline to get the answer onto the wire.
const DEADLINE_MARGIN: Duration = Duration::from_millis(200);

/// Bytes of review bodies that may be held at once, counted in KiB: a body takes its share
/// (by `Content-Length`, else the largest allowed) before it is read and gives it back when its
/// review is answered, so many large reviews at once wait instead of exhausting memory.
#[derive(Debug, Clone)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        Self {
            kib: Arc::new(Semaphore::new(
                (bytes / 1024).clamp(1, Semaphore::MAX_PERMITS),
            )),
        }
    }

    /// The share of a body of `bytes`, waited for until `deadline`.
    async fn take(&self, bytes: usize, deadline: Instant) -> Option<OwnedSemaphorePermit> {
        let kib = u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX);
        tokio::time::timeout_at(deadline, self.kib.clone().acquire_many_owned(kib))
            .await
            .ok()?
            .ok()
    }
}

/// A JSON body within `--max-body-bytes`, read before its deadline.
#[derive(Debug)]
pub struct ReviewBody {
    pub bytes: Bytes,
    /// The body's share of the [`BodyBudget`], held until the review is answered.
    pub share: OwnedSemaphorePermit,
    /// When the request arrived, before its body was read.
    pub arrived: Instant,
    /// The answer must be on the wire by `arrived + budget`.
    pub budget: Duration,
}

impl ReviewBody {
    pub fn deadline(&self) -> Instant {
        self.arrived + self.budget
    }
}

impl FromRequest<Arc<App>> for ReviewBody {
    type Rejection = Failure;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Failure> {
        let arrived = Instant::now();
        let budget = budget(req.uri().query(), app.default_timeout);
        let (bytes, share) = take_and_read(req, app, arrived, budget)
            .await
            .inspect_err(|failure| failure.record(&app.metrics))?;
        Ok(Self {
            bytes,
            share,
            arrived,
            budget,
        })
    }
}

/// Checks what the headers can tell first (no wait for a share is spent on a body that would be
/// refused anyway), then waits for the body's share of the budget, then reads it; all before
/// `arrived + budget`.
async fn take_and_read(
    req: Request,
    app: &App,
    arrived: Instant,
    budget: Duration,
) -> Result<(Bytes, OwnedSemaphorePermit), Failure> {
    if !is_json(req.headers()) {
        return Err(Failure::ContentType);
    }
    let limit = app.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Failure::TooLarge { limit });
    }
    let late = Failure::Late { budget };
    let deadline = arrived + budget;
    let Some(share) = app.bodies.take(declared.unwrap_or(limit), deadline).await else {
        return Err(late);
    };
    let body = axum::body::to_bytes(req.into_body(), limit);
    match tokio::time::timeout_at(deadline, body).await {
        Ok(Ok(bytes)) => Ok((bytes, share)),
        Ok(Err(e)) if is_too_large(&e) => Err(Failure::TooLarge { limit }),
        Ok(Err(e)) => Err(Failure::Unreadable(e.to_string())),
        Err(_elapsed) => Err(late),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}

fn is_too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cause {
        if err.is::<LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The longest `?timeout=` honoured: the apiserver allows a webhook at most 30 s
/// (`timeoutSeconds`), so a longer one is not the apiserver's and must not hold a body read or
/// an evaluation slot longer.
const MAX_BUDGET: Duration = Duration::from_secs(30);

/// The apiserver's remaining budget (`?timeout=10s`) minus a margin, or the default; never more
/// than [`MAX_BUDGET`].
fn budget(query: Option<&str>, default: Duration) -> Duration {
    let sent = query
        .into_iter()
        .flat_map(|q| q.split('&'))
        .find_map(|kv| kv.strip_prefix("timeout="))
        .and_then(|v| secretkms_alibaba::duration::parse(v).ok());
    sent.unwrap_or(default)
        .min(MAX_BUDGET)
        .saturating_sub(DEADLINE_MARGIN)
        .max(Duration::from_millis(100))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_honours_the_apiservers_timeout() {
        assert_eq!(
            budget(Some("timeout=10s"), Duration::from_secs(30)),
            Duration::from_millis(9800)
        );
        assert_eq!(
            budget(Some("a=b&timeout=2s"), Duration::from_secs(30)),
            Duration::from_millis(1800)
        );
        assert_eq!(
            budget(None, Duration::from_secs(5)),
            Duration::from_millis(4800)
        );
        assert_eq!(
            budget(Some("timeout=1h"), Duration::from_secs(5)),
            Duration::from_millis(29_800),
            "no longer than the apiserver ever waits"
        );
        assert_eq!(
            budget(Some("timeout=junk"), Duration::from_secs(5)),
            Duration::from_millis(4800)
        );
        assert_eq!(
            budget(Some("timeout=0s"), Duration::from_secs(5)),
            Duration::from_millis(100)
        );
    }

    #[test]
    fn content_type_must_be_json() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(header::CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }
}
