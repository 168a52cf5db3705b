//! Alibaba Cloud credentials, found the way the official SDKs find them (credentials-go's default
//! chain): environment AccessKey → RRSA/OIDC → `~/.aliyun/config.json` profile → ECS RAM role.
//! Temporary credentials are cached and refreshed before they expire, one refresh at a time and
//! without making callers that hold valid credentials wait for it. Secrets never reach `Debug`,
//! `Display` or errors: no error keeps a request URL (a signed one holds `AccessKeyId`,
//! `SecurityToken` and `Signature`), and service messages and decode errors are scrubbed
//! ([`crate::openapi::redact`]).

mod chain;
mod ecs;
mod environment;
mod oidc;
mod profile;
mod sts;

use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use url::Url;

use crate::openapi::endpoint::host_header;
use crate::openapi::redact;

pub use chain::DefaultChain;
pub use ecs::{EcsRamRoleProvider, parse_role_credentials as parse_ecs_role_credentials};
pub use environment::{EnvProvider, Environment};
pub use oidc::OidcProvider;
pub use profile::ProfileProvider;
pub use sts::{RamRoleArnProvider, StsEndpoint, parse_answer as parse_sts_answer};

/// A boxed future, so providers can be used as `dyn CredentialsProvider`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Result of credential lookups.
pub type Result<T, E = CredentialsError> = std::result::Result<T, E>;

/// Credentials refresh when less than this remains (credentials-go uses 180 s too).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(180);

/// A string that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for signing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An AccessKey pair, optionally with an STS token and its expiry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: SecretString,
    pub security_token: Option<SecretString>,
    /// `None` for long-lived AccessKeys.
    pub expiration: Option<OffsetDateTime>,
    /// Which source produced them, e.g. `environment` or `rrsa`.
    pub source: &'static str,
}

impl Credentials {
    /// Long-lived AccessKey credentials.
    pub fn access_key(
        id: impl Into<String>,
        secret: impl Into<String>,
        source: &'static str,
    ) -> Self {
        Self {
            access_key_id: id.into(),
            access_key_secret: SecretString::new(secret),
            security_token: None,
            expiration: None,
            source,
        }
    }

    /// True when the credentials expire within `margin` of `now`.
    pub fn expires_within(&self, margin: Duration, now: OffsetDateTime) -> bool {
        self.expiration.is_some_and(|exp| exp - now <= margin)
    }

    /// True once the expiry has passed.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expiration.is_some_and(|exp| exp <= now)
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &self.access_key_secret)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .field("expiration", &self.expiration)
            .field("source", &self.source)
            .finish()
    }
}

/// Errors finding or refreshing credentials. Each names its source and what to set, and none
/// holds credential material: hosts, not URLs; scrubbed service messages.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// The source is not configured here (the chain moves on).
    #[error("{source_name}: {detail}")]
    NotConfigured {
        source_name: &'static str,
        detail: String,
    },
    /// The source is configured but its configuration is wrong.
    #[error("{source_name}: {detail}")]
    Invalid {
        source_name: &'static str,
        detail: String,
    },
    #[error("{source_name}: cannot read {}: {error}", path.display())]
    File {
        source_name: &'static str,
        path: PathBuf,
        /// Shared, so that every caller waiting on one refresh gets the same error.
        error: Arc<std::io::Error>,
    },
    /// STS answered with an error code; the message is scrubbed of the request's credentials.
    #[error("{source_name}: sts {action} failed with {code}: {message}")]
    Sts {
        source_name: &'static str,
        action: &'static str,
        code: String,
        message: String,
    },
    /// An HTTP request to STS or the metadata service failed: the host, and what failed.
    #[error("{source_name}: request to {host} failed: {detail}")]
    Http {
        source_name: &'static str,
        host: String,
        detail: String,
    },
    /// No source in the chain produced credentials.
    #[error(
        "no alibaba cloud credentials found; set ALIBABA_CLOUD_ACCESS_KEY_ID and \
         ALIBABA_CLOUD_ACCESS_KEY_SECRET, enable RRSA (ALIBABA_CLOUD_ROLE_ARN, \
         ALIBABA_CLOUD_OIDC_PROVIDER_ARN, ALIBABA_CLOUD_OIDC_TOKEN_FILE), configure a profile in \
         ~/.aliyun/config.json, or run on ECS with a RAM role; tried: {}",
        tried.join("; ")
    )]
    NotFound { tried: Vec<String> },
}

impl CredentialsError {
    /// A failed exchange with `url`'s host. reqwest's own text names the whole URL, which for
    /// a signed STS call holds the credentials, so only the host and reqwest's causes are kept.
    pub(crate) fn http(source_name: &'static str, url: &Url, error: reqwest::Error) -> Self {
        Self::Http {
            source_name,
            host: host_header(url),
            detail: redact::transport_detail(error),
        }
    }

    /// An answer from `url`'s host that is not what was asked for.
    pub(crate) fn answer(source_name: &'static str, url: &Url, detail: String) -> Self {
        Self::Http {
            source_name,
            host: host_header(url),
            detail,
        }
    }
}

/// Something that produces credentials. Implementations fetch; [`CachedProvider`] caches.
pub trait CredentialsProvider: Send + Sync + fmt::Debug {
    /// Short source name used in messages (`environment`, `rrsa`, `profile:<name>`, `ecs`).
    fn name(&self) -> String;
    /// Fetches fresh credentials.
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>>;
}

impl<P: CredentialsProvider + ?Sized> CredentialsProvider for Arc<P> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        (**self).fetch()
    }
}

/// Fixed credentials, e.g. from flags or tests.
#[derive(Debug, Clone)]
pub struct StaticProvider(pub Credentials);

impl CredentialsProvider for StaticProvider {
    fn name(&self) -> String {
        self.0.source.to_string()
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        let creds = self.0.clone();
        Box::pin(async move { Ok(creds) })
    }
}

/// Caches another provider's credentials and refreshes them `margin` before they expire.
///
/// One refresh runs at a time, in its own task, and no lock is held while it waits on the
/// network: callers whose cached credentials are inside the margin but not yet expired keep
/// using them at once, callers without valid credentials wait for that same refresh, and a
/// caller that gives up (its own deadline) does not cancel it for the others. When a refresh
/// fails but the cached credentials have not yet expired they are still served, so a brief STS
/// outage does not fail requests that would have succeeded.
#[derive(Debug)]
pub struct CachedProvider<P> {
    inner: Arc<P>,
    margin: Duration,
    state: Arc<Mutex<CacheState>>,
}

/// The outcome of a refresh, `None` while it runs.
type Outcome = Option<Result<Credentials>>;

#[derive(Debug, Default)]
struct CacheState {
    cached: Option<Credentials>,
    /// The refresh in flight: everyone who needs its outcome waits on this one.
    refresh: Option<watch::Receiver<Outcome>>,
}

fn lock(state: &Mutex<CacheState>) -> std::sync::MutexGuard<'_, CacheState> {
    // The lock is never held across an await or user code, so a poisoned state is intact.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<P: CredentialsProvider + 'static> CachedProvider<P> {
    pub fn new(inner: P) -> Self {
        Self::with_margin(inner, DEFAULT_REFRESH_MARGIN)
    }

    pub fn with_margin(inner: P, margin: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            margin,
            state: Arc::default(),
        }
    }

    /// Returns cached credentials, refreshing them when they are about to expire; waits for
    /// the refresh only when nothing valid is cached. Needs a tokio runtime.
    pub async fn credentials(&self) -> Result<Credentials> {
        let mut refresh = {
            let mut state = lock(&self.state);
            let now = OffsetDateTime::now_utc();
            if let Some(creds) = &state.cached
                && !creds.expires_within(self.margin, now)
            {
                return Ok(creds.clone());
            }
            let refresh = match &state.refresh {
                Some(running) => running.clone(),
                None => {
                    let started = self.start_refresh();
                    state.refresh = Some(started.clone());
                    started
                }
            };
            if let Some(creds) = &state.cached
                && !creds.is_expired(now)
            {
                return Ok(creds.clone());
            }
            refresh
        };
        match refresh.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or_else(|| Err(refresh_stopped())),
            Err(_) => Err(refresh_stopped()),
        }
    }

    fn start_refresh(&self) -> watch::Receiver<Outcome> {
        let (tx, rx) = watch::channel(None);
        let refresh = Refresh {
            state: Arc::clone(&self.state),
            tx,
            rx: rx.clone(),
        };
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let fetched = inner.fetch().await;
            refresh.publish(fetched);
        });
        rx
    }
}

fn refresh_stopped() -> CredentialsError {
    CredentialsError::Invalid {
        source_name: "credential cache",
        detail: "the credential refresh stopped before it finished (runtime shutting down?)".into(),
    }
}

/// The refresh in flight: publishes its outcome to every waiter and, however it ends (even
/// dropped unfinished with its runtime), leaves no stale refresh behind for later callers.
struct Refresh {
    state: Arc<Mutex<CacheState>>,
    tx: watch::Sender<Outcome>,
    rx: watch::Receiver<Outcome>,
}

impl Refresh {
    fn publish(&self, fetched: Result<Credentials>) {
        let outcome = {
            let mut state = lock(&self.state);
            self.forget(&mut state);
            match fetched {
                Ok(fresh) => {
                    state.cached = Some(fresh.clone());
                    Ok(fresh)
                }
                Err(err) => match &state.cached {
                    Some(old) if !old.is_expired(OffsetDateTime::now_utc()) => Ok(old.clone()),
                    _ => Err(err),
                },
            }
        };
        self.tx.send_replace(Some(outcome));
    }

    fn forget(&self, state: &mut CacheState) {
        if state
            .refresh
            .as_ref()
            .is_some_and(|r| r.same_channel(&self.rx))
        {
            state.refresh = None;
        }
    }
}

impl Drop for Refresh {
    fn drop(&mut self) {
        self.forget(&mut lock(&self.state));
    }
}

impl<P: CredentialsProvider + 'static> CredentialsProvider for CachedProvider<P> {
    fn name(&self) -> String {
        self.inner.name()
    }
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
        Box::pin(self.credentials())
    }
}

/// Builds an HTTP client for STS and metadata calls with bounded timeouts.
pub(crate) fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        // A redirect would resend a signed STS request, credentials and all, elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| CredentialsError::Invalid {
            source_name: "http",
            detail: format!("cannot build http client: {e}"),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn debug_never_shows_secrets() {
        let mut creds = Credentials::access_key("LTAIexample", "very-secret-value", "test");
        creds.security_token = Some(SecretString::new("token-value"));
        let shown = format!("{creds:?}");
        assert!(shown.contains("LTAIexample"));
        assert!(!shown.contains("very-secret-value"));
        assert!(!shown.contains("token-value"));
    }

    #[derive(Debug)]
    struct Counting {
        calls: AtomicUsize,
        lifetime: time::Duration,
        fail_after_first: bool,
    }

    impl CredentialsProvider for Counting {
        fn name(&self) -> String {
            "counting".into()
        }
        fn fetch(&self) -> BoxFuture<'_, Result<Credentials>> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                if n > 0 && self.fail_after_first {
                    return Err(CredentialsError::NotConfigured {
                        source_name: "counting",
                        detail: "down".into(),
                    });
                }
                let mut creds = Credentials::access_key(format!("STS.{n}"), "s", "counting");
                creds.expiration = Some(OffsetDateTime::now_utc() + self.lifetime);
                Ok(creds)
            })
        }
    }

    #[tokio::test]
    async fn cache_reuses_until_the_refresh_margin() {
        let cached = CachedProvider::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::hours(1),
            fail_after_first: false,
        });
        assert_eq!(cached.credentials().await.unwrap().access_key_id, "STS.0");
        assert_eq!(cached.credentials().await.unwrap().access_key_id, "STS.0");
        assert_eq!(cached.inner.calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn cache_refreshes_inside_the_margin_and_keeps_unexpired_on_failure() {
        let short = CachedProvider::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::seconds(60),
            fail_after_first: false,
        });
        assert_eq!(short.credentials().await.unwrap().access_key_id, "STS.0");
        // 60 s left is inside the 180 s margin: the call starts a refresh, and is answered
        // from the still valid cache without waiting for it.
        assert_eq!(short.credentials().await.unwrap().access_key_id, "STS.0");
        let refreshed =
            wait_until(|| async { short.credentials().await.unwrap().access_key_id != "STS.0" })
                .await;
        assert!(
            refreshed,
            "the refresh never replaced the cached credentials"
        );

        let failing = CachedProvider::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::seconds(60),
            fail_after_first: true,
        });
        failing.credentials().await.unwrap();
        let retried = wait_until(|| async {
            assert_eq!(failing.credentials().await.unwrap().access_key_id, "STS.0");
            failing.inner.calls.load(Ordering::SeqCst) >= 3
        })
        .await;
        assert!(retried, "failed refreshes are retried on later calls");
    }

    #[tokio::test]
    async fn with_nothing_valid_cached_a_failed_refresh_is_every_waiters_error() {
        let failing = CachedProvider::new(Counting {
            calls: AtomicUsize::new(1), // the first fetch already fails
            lifetime: time::Duration::hours(1),
            fail_after_first: true,
        });
        let (a, b) = tokio::join!(failing.credentials(), failing.credentials());
        for err in [a.unwrap_err(), b.unwrap_err()] {
            assert!(err.to_string().contains("down"), "{err}");
        }
    }

    /// Polls `done` (bounded, yielding to the refresh task in between).
    async fn wait_until<F: std::future::Future<Output = bool>>(done: impl Fn() -> F) -> bool {
        for _ in 0..1000 {
            if done().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        false
    }
}
