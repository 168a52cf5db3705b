//! The credential chain and the KMS client against failing and careless endpoints, on loopback
//! only: every credential source (environment AccessKey, CLI profile, RamRoleArn via STS
//! AssumeRole, RRSA via AssumeRoleWithOIDC, ECS metadata) signing a KMS call, both signature
//! methods, against a closed port, a server that answers slowly with throttling errors that
//! quote the whole request and the string to sign back, and a KMS that hangs past the timeout.
//! No error's Display or Debug may carry `Signature=`, a `SecurityToken`, an AccessKey secret
//! or the OIDC token. And a slow STS refresh holds up no caller that has valid credentials,
//! while callers without share one refresh.

#[path = "credentials/loopback.rs"]
mod loopback;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use loopback::{Request, Server};
use secretkms_alibaba::credentials::{
    CachedProvider, Credentials, CredentialsProvider, DefaultChain, Environment, OidcProvider,
    RamRoleArnProvider, SecretString, StaticProvider, StsEndpoint,
};
use secretkms_alibaba::kms::{Endpoint, KmsClient, KmsConfig};
use secretkms_alibaba::openapi::signature::percent_encode;
use secretkms_alibaba::openapi::{RetryPolicy, SignatureMethod};
use tokio::sync::Notify;

const AK_ID: &str = "LTAIleakTestAccessKeyId";
const AK_SECRET: &str = "leak-test/access+key=secret";
const SOURCE_TOKEN: &str = "CAISleak-test/source+token=";
const OIDC_TOKEN: &str = "eyJleakTest.oidc-token-content.c2ln";
/// What STS and the metadata service hand out.
const ISSUED_SECRET: &str = "issued/access+key=secret";
const ISSUED_TOKEN: &str = "CAISissued/security+token=";
const ROLE: &str = "leak-role";

/// How long any wait in these tests may take.
const PATIENCE: Duration = Duration::from_secs(15);

/// What the endpoints do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// Nothing listens on STS, the metadata service or KMS.
    ClosedPort,
    /// All three answer, after 200 ms, with a throttling error quoting the request back.
    Throttling,
    /// STS and the metadata service hand out credentials; KMS throttles, quoting back.
    KmsThrottling,
    /// STS and the metadata service hand out credentials; KMS hangs past the timeout.
    KmsHangs,
}

impl Fault {
    /// Text one of which the error must contain, so the test knows the path it exercised.
    fn expected(self) -> &'static [&'static str] {
        match self {
            Self::ClosedPort => &["request to 127.0.0.1:"],
            Self::Throttling => &["Throttling.User", "answered http 400"],
            Self::KmsThrottling => &["Throttling.User"],
            Self::KmsHangs => &["timed out"],
        }
    }
}

fn is_kms(request: &Request) -> bool {
    request.headers.contains("x-acs-action") || request.line.contains("Action=DescribeKey")
}

/// A throttling answer that quotes the whole request and, as a `SignatureDoesNotMatch` does,
/// the server's string to sign.
fn throttled(request: &Request) -> (u16, String) {
    let query = request
        .path()
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default();
    let message = format!(
        "Request was denied due to user flow control. request: {}; server string to sign \
         is:POST&%2F&{}",
        request.text(),
        percent_encode(query)
    );
    let body = serde_json::json!({
        "Code": "Throttling.User",
        "Message": message,
        "RequestId": "leak-test",
    });
    (400, body.to_string())
}

/// STS's or the metadata service's answer with credentials valid for an hour.
fn issued(request: &Request) -> (u16, String) {
    let expiration = "2099-01-01T00:00:00Z";
    let path = request.path();
    if path.starts_with("/latest/api/token") {
        return (200, "imds-session-token".into());
    }
    if path == "/latest/meta-data/ram/security-credentials/" {
        return (200, ROLE.into());
    }
    let body = if path.starts_with("/latest/") {
        serde_json::json!({
            "Code": "Success",
            "AccessKeyId": "STS.issued",
            "AccessKeySecret": ISSUED_SECRET,
            "SecurityToken": ISSUED_TOKEN,
            "Expiration": expiration,
        })
    } else {
        serde_json::json!({
            "RequestId": "leak-test",
            "Credentials": {
                "AccessKeyId": "STS.issued",
                "AccessKeySecret": ISSUED_SECRET,
                "SecurityToken": ISSUED_TOKEN,
                "Expiration": expiration,
            },
        })
    };
    (200, body.to_string())
}

/// One server for STS, the metadata service and KMS, or a closed port.
async fn endpoint(fault: Fault) -> (String, Option<Server>) {
    if fault == Fault::ClosedPort {
        return (loopback::closed_port().await, None);
    }
    let server = Server::start(move |request| {
        Box::pin(async move {
            match fault {
                Fault::ClosedPort => unreachable!("no server"),
                Fault::Throttling => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    throttled(&request)
                }
                Fault::KmsThrottling if is_kms(&request) => throttled(&request),
                Fault::KmsHangs if is_kms(&request) => {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    throttled(&request)
                }
                _ => issued(&request),
            }
        })
    })
    .await;
    (server.url.clone(), Some(server))
}

/// The environment of a process with only `pairs` set (no profile, no metadata unless named).
fn env(home: &Path, pairs: &[(&str, &str)]) -> Environment {
    let mut all = vec![
        ("HOME".to_string(), home.display().to_string()),
        (
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED".to_string(),
            "true".to_string(),
        ),
        (
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED".to_string(),
            "true".to_string(),
        ),
    ];
    for (name, value) in pairs {
        all.retain(|(n, _)| n != name);
        all.push((name.to_string(), value.to_string()));
    }
    Environment::from_pairs(all)
}

/// Every credential source, as the binaries build it, with STS and metadata at `url`.
fn sources(url: &str, dir: &Path) -> Vec<(&'static str, Arc<dyn CredentialsProvider>)> {
    let home = dir.join("home");
    std::fs::create_dir_all(home.join(".aliyun")).unwrap();
    let profiles = serde_json::json!({
        "current": "sts",
        "profiles": [
            {"name": "sts", "mode": "StsToken", "access_key_id": AK_ID,
             "access_key_secret": AK_SECRET, "sts_token": SOURCE_TOKEN},
            {"name": "arn", "mode": "RamRoleArn", "access_key_id": AK_ID,
             "access_key_secret": AK_SECRET, "ram_role_arn": "acs:ram::1:role/leak"},
        ],
    });
    std::fs::write(home.join(".aliyun/config.json"), profiles.to_string()).unwrap();
    let token_file = dir.join("oidc-token");
    std::fs::write(&token_file, OIDC_TOKEN).unwrap();
    let token_file = token_file.display().to_string();
    let chain = |pairs: &[(&str, &str)]| -> Arc<dyn CredentialsProvider> {
        Arc::new(DefaultChain::cached(&env(&home, pairs)))
    };
    let mut source = Credentials::access_key(AK_ID, AK_SECRET, "test");
    source.security_token = Some(SecretString::new(SOURCE_TOKEN));
    let assume = RamRoleArnProvider::new(
        Box::new(StaticProvider(source)),
        "acs:ram::1:role/leak",
        StsEndpoint::parse(url).unwrap(),
    )
    .unwrap();
    vec![
        (
            "environment",
            chain(&[
                ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK_ID),
                ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK_SECRET),
                ("ALIBABA_CLOUD_SECURITY_TOKEN", SOURCE_TOKEN),
            ]),
        ),
        (
            "profile",
            chain(&[("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "false")]),
        ),
        (
            "profile ram-role-arn",
            chain(&[
                ("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "false"),
                ("ALIBABA_CLOUD_PROFILE", "arn"),
                ("ALIBABA_CLOUD_STS_ENDPOINT", url),
            ]),
        ),
        (
            "ram-role-arn from sts credentials",
            Arc::new(CachedProvider::new(assume)),
        ),
        (
            "rrsa",
            chain(&[
                ("ALIBABA_CLOUD_ROLE_ARN", "acs:ram::1:role/leak"),
                (
                    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
                    "acs:ram::1:oidc-provider/leak",
                ),
                ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_file),
                ("ALIBABA_CLOUD_STS_ENDPOINT", url),
            ]),
        ),
        (
            "ecs metadata",
            chain(&[
                ("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "false"),
                ("SECRETKMS_ECS_METADATA_ENDPOINT", url),
                ("ALIBABA_CLOUD_ECS_METADATA", ROLE),
            ]),
        ),
    ]
}

/// What no error may show, in any form it could be sent in.
fn leaks() -> Vec<String> {
    let mut leaks: Vec<String> = [
        "Signature=",
        "Signature%3D",
        "SecurityToken",
        "string to sign is",
    ]
    .map(String::from)
    .to_vec();
    for secret in [
        AK_SECRET,
        SOURCE_TOKEN,
        OIDC_TOKEN,
        ISSUED_SECRET,
        ISSUED_TOKEN,
    ] {
        leaks.push(secret.to_string());
        leaks.push(percent_encode(secret));
        leaks.push(percent_encode(&percent_encode(secret)));
    }
    leaks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_error_of_any_credential_source_carries_credential_material() {
    let leaks = leaks();
    let dir = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    let mut calls = tokio::task::JoinSet::new();
    for fault in [
        Fault::ClosedPort,
        Fault::Throttling,
        Fault::KmsThrottling,
        Fault::KmsHangs,
    ] {
        let (url, server) = endpoint(fault).await;
        servers.extend(server);
        for method in [
            SignatureMethod::Acs3HmacSha256,
            SignatureMethod::RpcHmacSha1,
        ] {
            let dir = dir.path().join(format!("{fault:?}-{method:?}"));
            for (name, credentials) in sources(&url, &dir) {
                let mut config = KmsConfig::new(Endpoint::parse(&url).unwrap());
                config.signature = method;
                config.timeout = Duration::from_millis(300);
                config.connect_timeout = Duration::from_millis(300);
                config.retry = RetryPolicy {
                    max_attempts: 2,
                    base_delay: Duration::from_millis(10),
                    max_delay: Duration::from_millis(20),
                };
                let kms = KmsClient::new(config, credentials).unwrap();
                calls.spawn(async move {
                    let err = kms.describe_key("alias/leak").await.unwrap_err();
                    (format!("{name}, {fault:?}, {method:?}"), fault, err)
                });
            }
        }
    }
    let mut checked = 0;
    while let Some(done) = tokio::time::timeout(PATIENCE * 2, calls.join_next())
        .await
        .expect("every call ends")
    {
        let (case, fault, err) = done.unwrap();
        let shown = format!("{err}\n{err:#}\n{err:?}");
        assert!(
            fault.expected().iter().any(|e| shown.contains(e)),
            "{case}: expected one of {:?}: {shown}",
            fault.expected()
        );
        for leak in &leaks {
            assert!(
                !shown.contains(leak.as_str()),
                "{case}: {leak:?} in {shown}"
            );
        }
        if shown.contains("Throttling.User") {
            // The server quoted the signed request back; what carried secrets is gone.
            assert!(
                shown.contains("flow control") && shown.contains("[redacted]"),
                "{case}: {shown}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4 * 2 * 6);
    assert!(servers.iter().all(|s| s.received() > 0 && s.answered() > 0));
}

/// STS at a loopback server whose first AssumeRoleWithOIDC answer expires inside the refresh
/// margin, and which holds every later one until `release`.
async fn slow_sts(release: Arc<Notify>, first_lifetime: time::Duration) -> Server {
    let answers = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Server::start(move |_request| {
        let (release, answers) = (release.clone(), answers.clone());
        Box::pin(async move {
            let n = answers.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let lifetime = if n == 0 {
                first_lifetime
            } else {
                release.notified().await;
                time::Duration::hours(1)
            };
            let expiration = (time::OffsetDateTime::now_utc() + lifetime)
                .replace_nanosecond(0)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            let body = serde_json::json!({
                "RequestId": "refresh-test",
                "Credentials": {
                    "AccessKeyId": format!("STS.{n}"),
                    "AccessKeySecret": ISSUED_SECRET,
                    "SecurityToken": ISSUED_TOKEN,
                    "Expiration": expiration,
                },
            });
            (200, body.to_string())
        })
    })
    .await
}

fn rrsa(url: &str, dir: &Path) -> Arc<CachedProvider<OidcProvider>> {
    let token_file = dir.join("token");
    std::fs::write(&token_file, OIDC_TOKEN).unwrap();
    Arc::new(CachedProvider::new(
        OidcProvider::new(
            "acs:ram::1:role/r",
            "acs:ram::1:oidc-provider/p",
            token_file,
            StsEndpoint::parse(url).unwrap(),
        )
        .unwrap(),
    ))
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let since = tokio::time::Instant::now();
    while !done() {
        assert!(since.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_refresh_holds_up_no_caller_with_valid_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let release = Arc::new(Notify::new());
    // Two minutes left: inside the 180 s refresh margin, so the next call refreshes.
    let sts = slow_sts(release.clone(), time::Duration::minutes(2)).await;
    let cached = rrsa(&sts.url, dir.path());
    assert_eq!(cached.credentials().await.unwrap().access_key_id, "STS.0");

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let cached = cached.clone();
        callers.spawn(async move { cached.credentials().await.unwrap().access_key_id });
    }
    // All eight are answered from the cache while STS still holds the refresh (which it does
    // for longer than this bound: until released, or its client's 10 s timeout).
    tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(id) = callers.join_next().await {
            assert_eq!(id.unwrap(), "STS.0");
        }
    })
    .await
    .expect("a caller with valid credentials waited for the refresh");
    until("the refresh to reach sts", || sts.received() == 2).await;
    assert_eq!(sts.answered(), 1, "the refresh is still held");

    release.notify_one();
    until("the refresh to finish", || sts.answered() == 2).await;
    let since = tokio::time::Instant::now();
    loop {
        let id = cached.credentials().await.unwrap().access_key_id;
        if id == "STS.1" {
            break;
        }
        assert!(
            since.elapsed() < PATIENCE,
            "the refreshed credentials never arrived"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(sts.received(), 2, "eight callers, one refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_without_credentials_share_one_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let release = Arc::new(Notify::new());
    // The first answer is already expired, so nothing valid is cached after it.
    let sts = slow_sts(release.clone(), time::Duration::seconds(-1)).await;
    let cached = rrsa(&sts.url, dir.path());
    assert_eq!(cached.credentials().await.unwrap().access_key_id, "STS.0");

    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let cached = cached.clone();
        callers.spawn(async move { cached.credentials().await.unwrap().access_key_id });
    }
    until("the refresh to reach sts", || sts.received() == 2).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(callers.len(), 5);
    assert!(
        callers.try_join_next().is_none(),
        "no caller has credentials before sts answers"
    );
    release.notify_one();
    while let Some(id) = tokio::time::timeout(PATIENCE, callers.join_next())
        .await
        .expect("every waiting caller gets the refreshed credentials")
    {
        assert_eq!(id.unwrap(), "STS.1");
    }
    assert_eq!(sts.received(), 2, "five callers, one refresh");
}
