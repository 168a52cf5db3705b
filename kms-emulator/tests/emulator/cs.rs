//! The emulator's CS (ACK) API through the project's own CsClient: a cluster driven through its
//! agent (updating → running, the agent's KMS calls recorded as `AliyunCSManagedSecurityRole`,
//! disable handing the old key back), the 409 cool-down, ForbiddenUpdateKMSState, the keys ACK
//! refuses, a failing agent, DescribeUserPermission from the account's grants, and tampered
//! requests refused.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use secretkms_alibaba::actiontrail::{
    self, ActionTrailClient, LookupAttribute, LookupEventsRequest, LookupKey,
};
use secretkms_alibaba::credentials::{Credentials, SecretString};
use secretkms_alibaba::cs::{self, ClusterState, CsClient, CsError, UpdateKmsEncryption};
use secretkms_alibaba::openapi::{self, ClientConfig, Request};
use secretkms_alibaba::sts::{self, StsClient};
use secretkms_kms_emulator::CS_SECURITY_ROLE;
use secretkms_kms_emulator::cs::agent::EncryptionChange;
use serde_json::{Value, json};
use url::Url;

use super::cloud::admin;
use super::*;

const OUTSIDER: (&str, &str) = ("LTAIoutsider", "outsider-secret");

fn cfg<E>(endpoint: E) -> ClientConfig<E> {
    let mut config = ClientConfig::new(endpoint);
    config.retry = RetryPolicy::none();
    config
}

fn cs_as(emu: &Running, id: &str, secret: &str) -> CsClient {
    CsClient::new(
        cfg(cs::Endpoint::Custom(Url::parse(&emu.url).unwrap())),
        Arc::new(StaticProvider(Credentials::access_key(id, secret, "test"))),
    )
    .unwrap()
}

fn cs(emu: &Running) -> CsClient {
    cs_as(emu, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
}

/// An emulator with cluster `c1` (agent at `agent_url`, if any) and user `outsider`, a
/// developer on `c1`; the default user is the admin of all clusters.
async fn ack(seeds: &[&str], agent_url: Option<&str>) -> Running {
    let emu = emulator(seeds).await;
    let (status, body) = admin(
        &emu,
        "PUT",
        "clusters/c1",
        Some(json!({"agent_url": agent_url, "cool_down_seconds": 300})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = admin(
        &emu,
        "PUT",
        "account/users/outsider",
        Some(json!({
            "access_keys": [{"id": OUTSIDER.0, "secret": OUTSIDER.1}],
            "cluster_permissions": [{"resource_id": "c1", "role_type": "dev"}],
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    emu
}

/// A cluster agent on loopback: records each change, makes one KMS Encrypt with the credentials
/// it was handed (as the cluster's KMS plugin would), then answers `answer` after a pause.
#[derive(Clone)]
struct Agent {
    kms_url: String,
    answer: StatusCode,
    changes: Arc<Mutex<Vec<EncryptionChange>>>,
}

async fn agent_apply(
    State(agent): State<Agent>,
    Json(change): Json<EncryptionChange>,
) -> StatusCode {
    agent.changes.lock().unwrap().push(change.clone());
    let mut creds = Credentials::access_key(
        &change.credentials.access_key_id,
        &change.credentials.access_key_secret,
        "ack",
    );
    creds.security_token = Some(SecretString::new(&change.credentials.security_token));
    let kms = KmsClient::new(
        KmsConfig::new(Endpoint::parse(&agent.kms_url).unwrap()),
        Arc::new(StaticProvider(creds)),
    )
    .unwrap();
    kms.encrypt(&change.kms_key_id, b"canary", None)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.answer
}

async fn start_agent(
    kms_url: &str,
    answer: StatusCode,
) -> (String, Arc<Mutex<Vec<EncryptionChange>>>) {
    let changes = Arc::new(Mutex::new(Vec::new()));
    let agent = Agent {
        kms_url: kms_url.to_string(),
        answer,
        changes: changes.clone(),
    };
    let app = axum::Router::new()
        .route("/apply", axum::routing::post(agent_apply))
        .with_state(agent);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/apply", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, changes)
}

async fn wait_state(cs: &CsClient, want: ClusterState) -> cs::ClusterDetail {
    for _ in 0..100 {
        let detail = cs.describe_cluster_detail("c1").await.unwrap();
        if detail.state == want {
            return detail;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cluster c1 never became {want}");
}

#[tokio::test]
async fn a_cluster_goes_updating_then_running_through_its_agent() {
    // The agent needs the emulator's URL and the emulator the agent's: start the agent on the
    // URL the emulator gets once it runs.
    let emu = emulator(&["alias=ack"]).await;
    let (agent_url, changes) = start_agent(&emu.url, StatusCode::OK).await;
    let (status, _) = admin(
        &emu,
        "PUT",
        "clusters/c1",
        Some(json!({"agent_url": agent_url})),
    )
    .await;
    assert_eq!(status, 200);
    let key_id = emu.emulator.key_id("alias/ack").unwrap();
    let cs = cs(&emu);

    let before = cs.describe_cluster_detail("c1").await.unwrap();
    assert_eq!(before.state, ClusterState::Running);
    assert_eq!(before.region_id, "cn-hangzhou");
    assert_eq!(before.kubernetes_minor(), Some((1, 33)));
    assert_eq!(before.secret_encryption_key(), Some(None));

    cs.update_kms_encryption("c1", UpdateKmsEncryption::enable("alias/ack"))
        .await
        .unwrap();
    let during = cs.describe_cluster_detail("c1").await.unwrap();
    assert_eq!(during.state, ClusterState::Updating);
    let again = cs
        .update_kms_encryption("c1", UpdateKmsEncryption::enable("alias/ack"))
        .await
        .unwrap_err();
    assert!(matches!(again, CsError::CoolDown(_)), "{again}");

    let after = wait_state(&cs, ClusterState::Running).await;
    assert_eq!(after.secret_encryption_key(), Some(Some(key_id.clone())));
    {
        let changes = changes.lock().unwrap();
        assert_eq!(changes.len(), 1);
        assert!(changes[0].enabled);
        assert_eq!(changes[0].kms_key_id, key_id);
        assert_eq!(changes[0].credentials.role_name, CS_SECURITY_ROLE);
        assert!(!format!("{:?}", changes[0]).contains(&changes[0].credentials.access_key_secret));
    }
    // The agent's Encrypt was made as the role, as ACK's are.
    let trail = ActionTrailClient::new(
        cfg(actiontrail::Endpoint::Custom(Url::parse(&emu.url).unwrap())),
        Arc::new(StaticProvider(Credentials::access_key(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_ACCESS_KEY_SECRET,
            "test",
        ))),
    )
    .unwrap();
    let events = trail
        .lookup_events(&LookupEventsRequest {
            lookup_attributes: vec![
                LookupAttribute::new(LookupKey::EventName, "Encrypt"),
                LookupAttribute::new(LookupKey::User, CS_SECURITY_ROLE),
            ],
            ..Default::default()
        })
        .await
        .unwrap()
        .events;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].user_identity.role_name(), Some(CS_SECURITY_ROLE));

    // Still within the cool-down after it is running; ending it lets the disable through, and
    // the agent gets the old key to keep reading what it encrypted.
    let cooling = cs
        .update_kms_encryption("c1", UpdateKmsEncryption::disable())
        .await
        .unwrap_err();
    assert!(
        matches!(cooling, CsError::CoolDown(ref a) if a.http_status == 409),
        "{cooling}"
    );
    let (status, _) = admin(&emu, "DELETE", "clusters/c1/cool-down", None).await;
    assert_eq!(status, 200);
    cs.update_kms_encryption("c1", UpdateKmsEncryption::disable())
        .await
        .unwrap();
    let off = wait_state(&cs, ClusterState::Running).await;
    assert_eq!(off.secret_encryption_key(), Some(None));
    let changes = changes.lock().unwrap();
    assert_eq!(changes.len(), 2);
    assert!(!changes[1].enabled);
    assert_eq!(changes[1].kms_key_id, key_id);
}

#[tokio::test]
async fn update_kms_encryption_refuses_what_ack_refuses() {
    let emu = ack(
        &[
            "alias=good",
            "alias=aes128,spec=Aliyun_AES_128",
            "alias=acs/ecs",
            "alias=off,state=Disabled",
        ],
        None,
    )
    .await;
    let cs = cs(&emu);
    let outsider = cs_as(&emu, OUTSIDER.0, OUTSIDER.1)
        .update_kms_encryption("c1", UpdateKmsEncryption::enable("alias/good"))
        .await
        .unwrap_err();
    assert!(
        matches!(outsider, CsError::ForbiddenUpdateKmsState(ref a) if a.http_status == 403),
        "{outsider}"
    );
    for (key, why) in [
        ("alias/aes128", "Aliyun_AES_128"),
        ("alias/acs/ecs", "service key"),
        ("alias/off", "Disabled"),
        ("alias/missing", "not found"),
    ] {
        let err = cs
            .update_kms_encryption("c1", UpdateKmsEncryption::enable(key))
            .await
            .unwrap_err();
        assert!(
            matches!(err, CsError::InvalidParameter(ref a) if a.message.contains(why)),
            "{key}: {err}"
        );
    }
    let disable_off = cs
        .update_kms_encryption("c1", UpdateKmsEncryption::disable())
        .await
        .unwrap_err();
    assert!(
        matches!(disable_off, CsError::InvalidParameter(_)),
        "{disable_off}"
    );
    let missing = cs
        .update_kms_encryption("c-none", UpdateKmsEncryption::enable("alias/good"))
        .await
        .unwrap_err();
    assert!(matches!(missing, CsError::ClusterNotFound(_)), "{missing}");

    // Without the account's authorization of the role, ACK cannot encrypt.
    let (status, _) = admin(
        &emu,
        "DELETE",
        &format!("account/roles/{CS_SECURITY_ROLE}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let unauthorized = cs
        .update_kms_encryption("c1", UpdateKmsEncryption::enable("alias/good"))
        .await
        .unwrap_err();
    assert!(
        matches!(unauthorized, CsError::NoPermission(_)),
        "{unauthorized}"
    );
    // None of the refusals started a change or a cool-down.
    let detail = cs.describe_cluster_detail("c1").await.unwrap();
    assert_eq!(detail.state, ClusterState::Running);
}

#[tokio::test]
async fn a_failing_agent_leaves_the_cluster_failed() {
    let emu = emulator(&["alias=ack"]).await;
    let (agent_url, _) = start_agent(&emu.url, StatusCode::INTERNAL_SERVER_ERROR).await;
    let (status, _) = admin(
        &emu,
        "PUT",
        "clusters/c1",
        Some(json!({"agent_url": agent_url})),
    )
    .await;
    assert_eq!(status, 200);
    let cs = cs(&emu);
    cs.update_kms_encryption("c1", UpdateKmsEncryption::enable("alias/ack"))
        .await
        .unwrap();
    let failed = wait_state(&cs, ClusterState::Failed).await;
    assert_eq!(failed.secret_encryption_key(), Some(None));
    let (_, clusters) = admin(&emu, "GET", "clusters", None).await;
    let reason = clusters["Clusters"][0]["last_error"].as_str().unwrap();
    assert!(reason.contains("answered 500"), "{reason}");
}

#[tokio::test]
async fn describe_user_permission_lists_the_callers_grants() {
    let emu = ack(&[], None).await;
    let uid_of = |id: &'static str, secret: &'static str| {
        let url = Url::parse(&emu.url).unwrap();
        async move {
            StsClient::new(
                cfg(sts::Endpoint::Custom(url)),
                Arc::new(StaticProvider(Credentials::access_key(id, secret, "test"))),
            )
            .unwrap()
            .get_caller_identity()
            .await
            .unwrap()
            .user_id
            .unwrap()
        }
    };
    let cs = cs(&emu);
    let admin_grants = cs
        .describe_user_permission(&uid_of(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET).await)
        .await
        .unwrap();
    assert_eq!(admin_grants.len(), 1);
    assert!(admin_grants[0].allows_kms_update("c1") && admin_grants[0].is_owner);
    let outsider = cs
        .describe_user_permission(&uid_of(OUTSIDER.0, OUTSIDER.1).await)
        .await
        .unwrap();
    assert_eq!(outsider.len(), 1);
    assert_eq!(outsider[0].resource_id, "c1");
    assert!(!outsider[0].allows_kms_update("c1"));
    assert!(cs.describe_user_permission("1").await.unwrap().is_empty());
}

#[tokio::test]
async fn tampered_cs_requests_are_refused() {
    let emu = ack(&["alias=good"], None).await;
    let creds = Credentials::access_key(DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET, "test");
    let client = openapi::Client::new(
        "cs",
        &cfg(Url::parse(&emu.url).unwrap()),
        Arc::new(StaticProvider(creds.clone())),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let code = |response: reqwest::Response| async move {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        (
            status,
            body["code"].as_str().unwrap_or_default().to_string(),
        )
    };
    let describe = Request::roa(
        cs::API_VERSION,
        "DescribeClusterDetail",
        "GET",
        "/clusters/c1",
        None,
    );
    let now = time::OffsetDateTime::now_utc();
    let good = client
        .signed_request(&describe, &creds, now)
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(http.execute(good).await.unwrap().status().as_u16(), 200);
    // Another path than the one signed.
    let mut moved = client
        .signed_request(&describe, &creds, now)
        .unwrap()
        .build()
        .unwrap();
    moved.url_mut().set_path("/clusters/c2");
    assert_eq!(
        code(http.execute(moved).await.unwrap()).await,
        (400, "SignatureDoesNotMatch".into())
    );
    // Another body than the one signed.
    let update = Request::roa(
        cs::API_VERSION,
        "UpdateKMSEncryption",
        "PUT",
        "/clusters/c1/kms",
        Some(br#"{"kms_key_id":"alias/good"}"#.to_vec()),
    );
    let mut swapped = client
        .signed_request(&update, &creds, now)
        .unwrap()
        .build()
        .unwrap();
    *swapped.body_mut() = Some(br#"{"disable_encryption":true}"#.to_vec().into());
    assert_eq!(
        code(http.execute(swapped).await.unwrap()).await,
        (400, "SignatureDoesNotMatch".into())
    );
    // A replay of a request already served.
    let first = client
        .signed_request(&describe, &creds, now)
        .unwrap()
        .build()
        .unwrap();
    let replay = first.try_clone().unwrap();
    assert_eq!(http.execute(first).await.unwrap().status().as_u16(), 200);
    assert_eq!(
        code(http.execute(replay).await.unwrap()).await,
        (400, "SignatureNonceUsed".into())
    );
    // A wrong secret.
    let wrong = cs_as(&emu, DEFAULT_ACCESS_KEY_ID, "wrong-secret")
        .describe_cluster_detail("c1")
        .await
        .unwrap_err();
    assert!(matches!(wrong, CsError::InvalidCredentials(_)), "{wrong}");
    // The refused update changed nothing.
    assert_eq!(
        cs(&emu).describe_cluster_detail("c1").await.unwrap().state,
        ClusterState::Running
    );
}
