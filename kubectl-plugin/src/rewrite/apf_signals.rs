//! A tower layer on the rewrite's kube client that reads what kube's typed API drops: the
//! `Retry-After` header of a 429 (API Priority and Fairness and the max-in-flight filter answer
//! with a plain-text body, so the Status kube parses carries no `retryAfterSeconds`) and the
//! `X-Kubernetes-PF-*` headers naming the flow schema and priority level that classified us.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Response, StatusCode};
use serde::Serialize;
use tower::{Layer, Service};

use super::adaptive::Adaptive;

const FLOW_SCHEMA: &str = "x-kubernetes-pf-flowschema-uid";
const PRIORITY_LEVEL: &str = "x-kubernetes-pf-prioritylevel-uid";
/// APF's own Retry-After, for a 429 that names none.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The APF classification of the rewrite's requests, as the first response that named it said.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Classification {
    pub flow_schema_uid: String,
    pub priority_level_uid: String,
}

/// Feeds 429s and Retry-After to the window and keeps the classification.
#[derive(Debug, Clone)]
pub struct ApfSignalsLayer {
    adaptive: Arc<Adaptive>,
    classification: Arc<OnceLock<Classification>>,
}

impl ApfSignalsLayer {
    pub fn new(adaptive: Arc<Adaptive>) -> Self {
        Self {
            adaptive,
            classification: Arc::default(),
        }
    }

    pub fn classification(&self) -> Option<Classification> {
        self.classification.get().cloned()
    }

    fn observe<B>(&self, response: &Response<B>) {
        let headers = response.headers();
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        if self.classification.get().is_none()
            && let (Some(flow_schema), Some(priority_level)) =
                (text(FLOW_SCHEMA), text(PRIORITY_LEVEL))
        {
            let _ = self.classification.set(Classification {
                flow_schema_uid: flow_schema.to_string(),
                priority_level_uid: priority_level.to_string(),
            });
        }
        let retry_after = text(http::header::RETRY_AFTER.as_str())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        match response.status() {
            StatusCode::TOO_MANY_REQUESTS => {
                self.adaptive.count_throttled();
                self.adaptive
                    .pause_for(retry_after.unwrap_or(DEFAULT_RETRY_AFTER));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                if let Some(after) = retry_after {
                    self.adaptive.pause_for(after);
                }
            }
            _ => {}
        }
    }
}

impl<S> Layer<S> for ApfSignalsLayer {
    type Service = ApfSignals<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ApfSignals {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`ApfSignalsLayer`] wraps around the client's stack.
#[derive(Debug, Clone)]
pub struct ApfSignals<S> {
    inner: S,
    layer: ApfSignalsLayer,
}

impl<S, Req, B> Service<Req> for ApfSignals<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let layer = self.layer.clone();
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await?;
            layer.observe(&response);
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    fn answering(
        status: u16,
        headers: &'static [(&'static str, &'static str)],
    ) -> impl Service<(), Response = Response<()>, Error = std::convert::Infallible, Future: Send>
    {
        tower::service_fn(move |()| async move {
            let mut response = Response::builder().status(status);
            for (name, value) in headers {
                response = response.header(*name, *value);
            }
            Ok(response.body(()).unwrap())
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_counts_and_pauses_for_its_retry_after() {
        let adaptive = Arc::new(Adaptive::new(8, true));
        let layer = ApfSignalsLayer::new(adaptive.clone());
        let service = layer.layer(answering(
            429,
            &[
                ("Retry-After", "3"),
                ("X-Kubernetes-PF-FlowSchema-UID", "fs-1"),
                ("X-Kubernetes-PF-PriorityLevel-UID", "pl-1"),
            ],
        ));
        service.oneshot(()).await.unwrap();
        assert_eq!(adaptive.figures().throttled, 1);
        assert_eq!(
            layer.classification(),
            Some(Classification {
                flow_schema_uid: "fs-1".into(),
                priority_level_uid: "pl-1".into()
            })
        );
        let waiting = adaptive.acquire();
        tokio::pin!(waiting);
        tokio::time::advance(Duration::from_millis(2999)).await;
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(futures::poll!(waiting.as_mut()).is_ready());
    }

    #[tokio::test(start_paused = true)]
    async fn success_neither_counts_nor_pauses_and_a_bare_429_pauses_a_second() {
        let adaptive = Arc::new(Adaptive::new(8, true));
        let layer = ApfSignalsLayer::new(adaptive.clone());
        layer.layer(answering(200, &[])).oneshot(()).await.unwrap();
        assert_eq!(adaptive.figures().throttled, 0);
        assert_eq!(layer.classification(), None);
        let free = adaptive.acquire();
        tokio::pin!(free);
        assert!(futures::poll!(free.as_mut()).is_ready());

        layer.layer(answering(429, &[])).oneshot(()).await.unwrap();
        let waiting = adaptive.acquire();
        tokio::pin!(waiting);
        tokio::time::advance(Duration::from_millis(999)).await;
        assert!(futures::poll!(waiting.as_mut()).is_pending());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(futures::poll!(waiting.as_mut()).is_ready());
    }
}
