//! Alibaba Cloud credentials, found the way the official SDKs find them (credentials-go's default
//! chain): environment AccessKey → RRSA/OIDC → `~/.aliyun/config.json` profile → ECS RAM role.
//! Temporary credentials are cached and refreshed before they expire. Secrets never reach `Debug`,
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
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use url::Url;

use crate::openapi::endpoint::host_header;
use crate::openapi::redact;

pub use chain::DefaultChain;
pub use ecs::EcsRamRoleProvider;
pub use environment::{EnvProvider, Environment};
pub use oidc::OidcProvider;
pub use profile::ProfileProvider;
pub use sts::{RamRoleArnProvider, StsEndpoint};

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
/// When a refresh fails but the cached credentials have not yet expired they are still served,
/// so a brief STS outage does not fail requests that would have succeeded.
#[derive(Debug)]
pub struct CachedProvider<P> {
    inner: P,
    margin: Duration,
    cached: tokio::sync::Mutex<Option<Credentials>>,
}

impl<P: CredentialsProvider> CachedProvider<P> {
    pub fn new(inner: P) -> Self {
        Self::with_margin(inner, DEFAULT_REFRESH_MARGIN)
    }

    pub fn with_margin(inner: P, margin: Duration) -> Self {
        Self {
            inner,
            margin,
            cached: tokio::sync::Mutex::new(None),
        }
    }

    /// Returns cached credentials, refreshing them first when they are about to expire.
    pub async fn credentials(&self) -> Result<Credentials> {
        // One refresh at a time: concurrent callers wait for it instead of stampeding STS.
        let mut cached = self.cached.lock().await;
        let now = OffsetDateTime::now_utc();
        if let Some(creds) = cached.as_ref()
            && !creds.expires_within(self.margin, now)
        {
            return Ok(creds.clone());
        }
        match self.inner.fetch().await {
            Ok(fresh) => {
                *cached = Some(fresh.clone());
                Ok(fresh)
            }
            Err(err) => match cached.as_ref() {
                Some(old) if !old.is_expired(now) => Ok(old.clone()),
                _ => Err(err),
            },
        }
    }
}

impl<P: CredentialsProvider> CredentialsProvider for CachedProvider<P> {
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
        // 60 s left is inside the 180 s margin: every call refreshes.
        assert_eq!(short.credentials().await.unwrap().access_key_id, "STS.1");

        let failing = CachedProvider::new(Counting {
            calls: AtomicUsize::new(0),
            lifetime: time::Duration::seconds(60),
            fail_after_first: true,
        });
        failing.credentials().await.unwrap();
        assert_eq!(failing.credentials().await.unwrap().access_key_id, "STS.0");
    }
}
