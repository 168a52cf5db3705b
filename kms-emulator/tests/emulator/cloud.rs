//! The emulator as a local Alibaba Cloud, through the project's own clients: STS
//! GetCallerIdentity names the signer (user or assumed role), RAM and BSS answer from the account
//! model and follow its admin routes, ActionTrail shows the KMS calls just made and pages them at
//! the client's quota, and tampered requests to every new API are refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secretkms_alibaba::actiontrail::{
    self, ActionTrailClient, LookupAttribute, LookupEventsRequest, LookupKey,
};
use secretkms_alibaba::bss::{self, BssClient};
use secretkms_alibaba::credentials::{Credentials, CredentialsProvider, StaticProvider};
use secretkms_alibaba::openapi::{self, ClientConfig, Request, param};
use secretkms_alibaba::ram::{self, RamClient, RamError};
use secretkms_alibaba::sts::{self, IdentityType, StsClient};
use secretkms_kms_emulator::{CS_SECURITY_ROLE, DEFAULT_USER, KMS_CRYPTO_ADMIN_POLICY};
use serde_json::{Value, json};
use url::Url;

use super::*;

const BOTH: [SignatureMethod; 2] = [
    SignatureMethod::Acs3HmacSha256,
    SignatureMethod::RpcHmacSha1,
];

fn provider(id: &str, secret: &str) -> Arc<dyn CredentialsProvider> {
    Arc::new(StaticProvider(Credentials::access_key(id, secret, "test")))
}

fn default_provider() -> Arc<dyn CredentialsProvider> {
    provider(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
}

fn cfg<E>(endpoint: E, method: SignatureMethod) -> ClientConfig<E> {
    let mut config = ClientConfig::new(endpoint);
    config.signature = method;
    config.retry = RetryPolicy::none();
    config
}

fn url(emu: &Running) -> Url {
    Url::parse(&emu.url).unwrap()
}

fn sts(emu: &Running, method: SignatureMethod, creds: Arc<dyn CredentialsProvider>) -> StsClient {
    StsClient::new(
        cfg::<sts::Endpoint>(sts::Endpoint::Custom(url(emu)), method),
        creds,
    )
    .unwrap()
}

fn ram(emu: &Running, method: SignatureMethod) -> RamClient {
    RamClient::new(
        cfg::<ram::Endpoint>(ram::Endpoint::Custom(url(emu)), method),
        default_provider(),
    )
    .unwrap()
}

fn trail(emu: &Running, method: SignatureMethod) -> ActionTrailClient {
    ActionTrailClient::new(
        cfg::<actiontrail::Endpoint>(actiontrail::Endpoint::Custom(url(emu)), method),
        default_provider(),
    )
    .unwrap()
}

fn bss(emu: &Running, method: SignatureMethod) -> BssClient {
    BssClient::new(
        cfg::<bss::Endpoint>(bss::Endpoint::Custom(url(emu)), method),
        default_provider(),
    )
    .unwrap()
}

/// Sends an admin request under `/_emulator/` and returns its status and JSON answer.
pub async fn admin(emu: &Running, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let http = reqwest::Client::new();
    let mut request = http.request(
        reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
        format!("{}/_emulator/{path}", emu.url),
    );
    if let Some(body) = body {
        request = request.body(body.to_string());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn get_caller_identity_names_the_signer() {
    let emu = emulator(&[]).await;
    for method in BOTH {
        let me = sts(&emu, method, default_provider())
            .get_caller_identity()
            .await
            .unwrap();
        assert_eq!(me.identity_type, IdentityType::RamUser);
        assert_eq!(
            me.arn,
            format!("acs:ram::1234567890123456:user/{DEFAULT_USER}")
        );
        assert_eq!(me.account_id, "1234567890123456");
        assert!(!me.request_id.is_empty());
    }

    // A user added through the admin API signs as itself at once.
    let (status, _) = admin(
        &emu,
        "PUT",
        "account/users/alice",
        Some(json!({"access_keys": [{"id": "LTAIalice", "secret": "alice-secret"}]})),
    )
    .await;
    assert_eq!(status, 200);
    let alice = sts(
        &emu,
        SignatureMethod::Acs3HmacSha256,
        provider("LTAIalice", "alice-secret"),
    )
    .get_caller_identity()
    .await
    .unwrap();
    assert_eq!(alice.user_name(), Some("alice"));
    let (_, shown) = admin(&emu, "GET", "account", None).await;
    assert!(!shown.to_string().contains("alice-secret"), "{shown}");

    // STS credentials of an assumed role are that role's session.
    let issued: Value = sts_assume_role(
        &emu,
        "acs:ram::1234567890123456:role/aliyuncsmanagedsecurityrole",
        "kms-plugin",
    )
    .await;
    let creds = &issued["Credentials"];
    let mut temporary = Credentials::access_key(
        creds["AccessKeyId"].as_str().unwrap(),
        creds["AccessKeySecret"].as_str().unwrap(),
        "test",
    );
    temporary.security_token = Some(secretkms_alibaba::credentials::SecretString::new(
        creds["SecurityToken"].as_str().unwrap(),
    ));
    for method in BOTH {
        let role = sts(&emu, method, Arc::new(StaticProvider(temporary.clone())))
            .get_caller_identity()
            .await
            .unwrap();
        assert_eq!(role.identity_type, IdentityType::AssumedRoleUser);
        assert_eq!(
            role.arn,
            "acs:ram::1234567890123456:assumed-role/aliyuncsmanagedsecurityrole/kms-plugin"
        );
        assert!(role.role_id.is_some());
    }

    // An AccessKey that was removed with its user is no longer accepted.
    admin(&emu, "DELETE", "account/users/alice", None).await;
    let err = sts(
        &emu,
        SignatureMethod::Acs3HmacSha256,
        provider("LTAIalice", "alice-secret"),
    )
    .get_caller_identity()
    .await
    .unwrap_err();
    assert!(
        matches!(err, sts::StsError::InvalidCredentials(ref a) if a.code == "InvalidAccessKeyId.NotFound"),
        "{err}"
    );
}

/// AssumeRole through the emulator's STS, signed with the default AccessKey.
async fn sts_assume_role(emu: &Running, role_arn: &str, session: &str) -> Value {
    let client = openapi::Client::new(
        "sts",
        &cfg(url(emu), SignatureMethod::Acs3HmacSha256),
        default_provider(),
    )
    .unwrap();
    client
        .call(&Request::rpc(
            sts::API_VERSION,
            "AssumeRole",
            vec![
                param("RoleArn", role_arn),
                param("RoleSessionName", session),
            ],
        ))
        .await
        .unwrap()
}

#[tokio::test]
async fn ram_and_bss_answer_from_the_account_model() {
    let emu = emulator(&[]).await;
    for method in BOTH {
        let ram = ram(&emu, method);
        let role = ram.get_role(CS_SECURITY_ROLE).await.unwrap().role;
        assert_eq!(role.role_name, CS_SECURITY_ROLE);
        assert_eq!(
            role.arn,
            "acs:ram::1234567890123456:role/aliyuncsmanagedsecurityrole"
        );
        assert!(role.assume_role_policy_document.contains("cs.aliyuncs.com"));
        let policies = ram.list_policies_for_role(CS_SECURITY_ROLE).await.unwrap();
        assert!(policies.has("AliyunCSManagedSecurityRolePolicy", Some("System")));
        let policies = ram.list_policies_for_user(DEFAULT_USER).await.unwrap();
        assert!(policies.has(KMS_CRYPTO_ADMIN_POLICY, Some("System")));
        assert!(matches!(
            ram.list_policies_for_user("nobody").await,
            Err(RamError::UserNotFound(_))
        ));

        let balance = bss(&emu, method).query_account_balance().await.unwrap();
        assert_eq!(
            (balance.data.available(), balance.data.currency.as_str()),
            (Some(10000.0), "CNY")
        );
    }

    // Withdrawing the authorization, detaching the policy, an overdue account.
    assert_eq!(
        admin(
            &emu,
            "DELETE",
            &format!("account/roles/{CS_SECURITY_ROLE}"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        admin(&emu, "PUT", &format!("account/users/{DEFAULT_USER}"), Some(json!({"access_keys": [{"id": DEFAULT_ACCESS_KEY_ID, "secret": DEFAULT_ACCESS_KEY_SECRET}], "policies": ["AliyunKMSReadOnlyAccess"]}))).await.0,
        200
    );
    assert_eq!(
        admin(
            &emu,
            "PUT",
            "account/balance",
            Some(json!({"available_amount": "-20.50", "currency": "USD"}))
        )
        .await
        .0,
        200
    );
    let ram = ram(&emu, SignatureMethod::Acs3HmacSha256);
    let err = ram.get_role(CS_SECURITY_ROLE).await.unwrap_err();
    assert!(
        matches!(err, RamError::RoleNotFound(ref a) if a.http_status == 404),
        "{err}"
    );
    let policies = ram.list_policies_for_user(DEFAULT_USER).await.unwrap();
    assert!(!policies.has(KMS_CRYPTO_ADMIN_POLICY, None));
    assert!(policies.has("AliyunKMSReadOnlyAccess", Some("System")));
    let balance = bss(&emu, SignatureMethod::RpcHmacSha1)
        .query_account_balance()
        .await
        .unwrap();
    assert_eq!(
        (balance.data.available(), balance.data.currency.as_str()),
        (Some(-20.5), "USD")
    );

    // Invalid changes are refused whole.
    let (status, body) = admin(
        &emu,
        "PUT",
        "account/balance",
        Some(json!({"available_amount": "lots"})),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidParameter")),
        "{body}"
    );
    let (status, _) = admin(&emu, "PUT", "account", Some(json!({"account_id": "42"}))).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn actiontrail_shows_kms_calls_and_pages_at_the_quota() {
    let emu = emulator(&["alias=k8s"]).await;
    let key = emu.emulator.key_id("alias/k8s").unwrap();
    let since = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let kms = client(&emu, SignatureMethod::Acs3HmacSha256);
    for _ in 0..5 {
        let blob = kms
            .encrypt("alias/k8s", b"secret", None)
            .await
            .unwrap()
            .ciphertext_blob;
        kms.decrypt(&blob, None).await.unwrap();
    }
    let trail = trail(&emu, SignatureMethod::Acs3HmacSha256);
    let encrypts = LookupEventsRequest {
        start_time: Some(since),
        lookup_attributes: vec![
            LookupAttribute::new(LookupKey::EventName, "Encrypt"),
            LookupAttribute::new(LookupKey::User, DEFAULT_USER),
        ],
        max_results: Some(2),
        ..Default::default()
    };
    let first = trail.lookup_events(&encrypts).await.unwrap();
    assert_eq!(first.events.len(), 2);
    let event = &first.events[0];
    assert_eq!(
        (event.event_name.as_str(), event.service_name.as_str()),
        ("Encrypt", "Kms")
    );
    assert_eq!(event.user_identity.kind, "ram-user");
    assert_eq!(event.user_identity.access_key_id, DEFAULT_ACCESS_KEY_ID);
    assert_eq!(event.other["resourceName"], key.as_str());
    assert!(!event.request_id.is_empty());
    assert!(first.next_token.is_some());

    // Paging: 5 Encrypts in pages of 2 are 3 calls, spaced by the 2 calls/s quota.
    let started = Instant::now();
    let (all, rest) = trail.lookup_all_events(&encrypts, 10).await.unwrap();
    assert_eq!((all.len(), rest), (5, None));
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    let mut ids: Vec<_> = all.iter().map(|e| e.event_id.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 5);
    let (two, rest) = trail.lookup_all_events(&encrypts, 1).await.unwrap();
    assert_eq!(two.len(), 2);
    assert!(rest.is_some(), "the bound leaves a token to go on from");

    // Decrypt names the key only in its answer; the event still carries it.
    let decrypts = LookupEventsRequest {
        lookup_attributes: vec![LookupAttribute::new(LookupKey::ResourceName, key.clone())],
        max_results: Some(50),
        ..Default::default()
    };
    let by_key = trail.lookup_events(&decrypts).await.unwrap().events;
    assert_eq!(
        by_key.iter().filter(|e| e.event_name == "Decrypt").count(),
        5
    );
    assert_eq!(
        by_key.iter().filter(|e| e.event_name == "Encrypt").count(),
        5
    );

    let err = trail
        .lookup_events(&LookupEventsRequest {
            next_token: Some("not-a-token".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, actiontrail::ActionTrailError::InvalidQuery(_)),
        "{err}"
    );
}

#[tokio::test]
async fn kms_calls_by_an_assumed_role_are_found_by_the_role_name() {
    let emu = emulator(&["alias=k8s"]).await;
    // The ARN as RAM prints it, lowercased: events still carry the role's own spelling.
    let issued = sts_assume_role(
        &emu,
        "acs:ram::1234567890123456:role/aliyuncsmanagedsecurityrole",
        "ack",
    )
    .await;
    let creds = &issued["Credentials"];
    let mut temporary = Credentials::access_key(
        creds["AccessKeyId"].as_str().unwrap(),
        creds["AccessKeySecret"].as_str().unwrap(),
        "test",
    );
    temporary.security_token = Some(secretkms_alibaba::credentials::SecretString::new(
        creds["SecurityToken"].as_str().unwrap(),
    ));
    let kms = KmsClient::new(
        config(&emu, SignatureMethod::RpcHmacSha1),
        Arc::new(StaticProvider(temporary)),
    )
    .unwrap();
    kms.encrypt("alias/k8s", b"x", None).await.unwrap();
    let events = trail(&emu, SignatureMethod::RpcHmacSha1)
        .lookup_events(&LookupEventsRequest {
            lookup_attributes: vec![LookupAttribute::new(LookupKey::User, CS_SECURITY_ROLE)],
            ..Default::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].user_identity.kind, "assumed-role");
    assert_eq!(events[0].user_identity.role_name(), Some(CS_SECURITY_ROLE));
    assert_eq!(
        events[0].user_identity.user_name,
        format!("{CS_SECURITY_ROLE}:ack")
    );
}

async fn raw_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["Code"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn tampered_requests_to_every_new_api_are_refused() {
    let emu = emulator(&[]).await;
    let creds = Credentials::access_key(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, "test");
    let requests = [
        Request::rpc(
            sts::API_VERSION,
            "GetCallerIdentity",
            vec![param("Pad", "one")],
        ),
        Request::rpc(ram::API_VERSION, "GetRole", vec![param("RoleName", "one")]),
        Request::rpc(
            actiontrail::API_VERSION,
            "LookupEvents",
            vec![param("MaxResults", "1")],
        ),
        Request::rpc(
            bss::API_VERSION,
            "QueryAccountBalance",
            vec![param("Pad", "one")],
        ),
    ];
    let http = reqwest::Client::new();
    for method in BOTH {
        let client =
            openapi::Client::new("test", &cfg(url(&emu), method), default_provider()).unwrap();
        for request in &requests {
            let now = time::OffsetDateTime::now_utc();
            let good = client
                .signed_request(request, &creds, now)
                .unwrap()
                .build()
                .unwrap();
            let status = http.execute(good).await.unwrap().status().as_u16();
            assert!(
                status == 200 || status == 404,
                "{} {method:?}: {status}",
                request.action
            );
            let mut tampered = client
                .signed_request(request, &creds, now)
                .unwrap()
                .build()
                .unwrap();
            let query = tampered
                .url()
                .query()
                .unwrap()
                .replace("one", "two")
                .replace("MaxResults=1", "MaxResults=2");
            tampered.url_mut().set_query(Some(&query));
            assert_eq!(
                raw_error(http.execute(tampered).await.unwrap()).await,
                (400, "SignatureDoesNotMatch".into()),
                "{} {method:?}",
                request.action
            );
        }
        let wrong = openapi::Client::new(
            "test",
            &cfg(url(&emu), method),
            provider(DEFAULT_ACCESS_KEY_ID, "wrong-secret"),
        )
        .unwrap();
        for request in &requests {
            let err = wrong.call::<Value>(request).await.unwrap_err();
            assert!(
                matches!(err, openapi::Error::Api(ref a) if a.code == "SignatureDoesNotMatch"),
                "{} {method:?}: {err}",
                request.action
            );
        }
    }
}
