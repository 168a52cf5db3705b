//! The local ACK end to end, through the project's CsClient only: UpdateKMSEncryption takes a
//! real control plane from `identity` to KMS (`updating` → `running`, Secrets then stored with
//! the `k8s:enc:kms:` prefix, ActionTrail showing Encrypt by `AliyunCSManagedSecurityRole`), a
//! second call within the cool-down is 409, a user without the cluster's admin or O&M role gets
//! ForbiddenUpdateKMSState, and disabling brings `identity` back first while the Secrets written
//! under KMS still read back.
//!
//! One test on purpose: one control plane, and each step starts from the state the previous one
//! left.

use std::time::{Duration, Instant};

use secretkms_alibaba::actiontrail::{LookupAttribute, LookupEventsRequest, LookupKey};
use secretkms_alibaba::cs::{ClusterState, CsClient, CsError, UpdateKmsEncryption};
use secretkms_e2e::EtcdReader;
use secretkms_e2e::ack::{LocalAck, LocalAckOptions, PROVIDER_NAME};
use secretkms_e2e::fixtures::{
    create_secret, cs_client, eventually, holds_marker, local_ack, reads_back, trail_client,
};
use secretkms_kms_emulator::CS_SECURITY_ROLE;

async fn stored(etcd: &EtcdReader, ns: &str, name: &str) -> Vec<u8> {
    etcd.get(&format!("/registry/secrets/{ns}/{name}"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no etcd key for Secret {ns}/{name}"))
}

/// Polls DescribeClusterDetail until the cluster leaves `updating`; it must then be `running`.
async fn until_running(ack: &LocalAck, cs: &CsClient) -> Duration {
    let since = Instant::now();
    loop {
        let detail = cs.describe_cluster_detail(ack.cluster_id()).await.unwrap();
        match detail.state {
            ClusterState::Updating if since.elapsed() < Duration::from_secs(180) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            ClusterState::Running => return since.elapsed(),
            other => panic!(
                "cluster {} is {other} after {}s\n{}\nemulator:\n{}\napiserver:\n{}",
                ack.cluster_id(),
                since.elapsed().as_secs(),
                ack.agent_log_tail(20),
                ack.emulator_log_tail(20),
                ack.control_plane().apiserver_log_tail(20)
            ),
        }
    }
}

#[tokio::test]
async fn update_kms_encryption_drives_the_real_control_plane() {
    let ack = local_ack(LocalAckOptions::new(
        env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e"),
        env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e"),
    ))
    .await;
    let cp = ack.control_plane();
    let client = cp.client().await.unwrap();
    let etcd = cp.etcd();
    let ns = cp.namespace(&client, "local-ack").await.unwrap();
    let cs = cs_client(&ack, ack.admin());
    let cluster = ack.cluster_id();

    // Before: running, no key, Secrets in plaintext.
    let before = cs.describe_cluster_detail(cluster).await.unwrap();
    assert_eq!(before.state, ClusterState::Running);
    assert_eq!(before.region_id, ack.region());
    assert_eq!(before.secret_encryption_key(), Some(None));
    let apiserver_minor = client.apiserver_version().await.unwrap().minor;
    assert_eq!(
        before
            .kubernetes_minor()
            .map(|(_, minor)| minor.to_string()),
        Some(apiserver_minor.trim_end_matches('+').to_string()),
        "the cluster reports the apiserver's version"
    );
    create_secret(&client, &ns, "plain-before").await;
    assert!(holds_marker(&stored(&etcd, &ns, "plain-before").await));

    // A developer of the cluster may not change its encryption.
    let developer = cs_client(&ack, ack.developer())
        .update_kms_encryption(cluster, UpdateKmsEncryption::enable(ack.key_id()))
        .await
        .unwrap_err();
    assert!(
        matches!(developer, CsError::ForbiddenUpdateKmsState(ref a) if a.http_status == 403),
        "{developer}"
    );

    // Enable: updating, then running once the apiserver restarted on KMS.
    cs.update_kms_encryption(cluster, UpdateKmsEncryption::enable(ack.key_id()))
        .await
        .unwrap();
    assert_eq!(
        cs.describe_cluster_detail(cluster).await.unwrap().state,
        ClusterState::Updating
    );
    let again = cs
        .update_kms_encryption(cluster, UpdateKmsEncryption::enable(ack.key_id()))
        .await
        .unwrap_err();
    assert!(
        matches!(again, CsError::CoolDown(ref a) if a.http_status == 409),
        "{again}"
    );
    until_running(&ack, &cs).await;
    assert_eq!(ack.applied(), 1);
    let on = cs.describe_cluster_detail(cluster).await.unwrap();
    assert_eq!(
        on.secret_encryption_key(),
        Some(Some(ack.key_id().to_string()))
    );

    // A Secret written now is a KMS v2 envelope in etcd, and the old one still reads.
    let client = cp.client().await.unwrap();
    create_secret(&client, &ns, "under-kms").await;
    let raw = stored(&etcd, &ns, "under-kms").await;
    let prefix = format!("k8s:enc:kms:v2:{PROVIDER_NAME}:");
    assert!(
        raw.starts_with(prefix.as_bytes()),
        "stored as {:?}",
        &raw[..raw.len().min(40)]
    );
    assert!(!holds_marker(&raw));
    reads_back(&client, &ns, "plain-before").await;

    // ActionTrail shows the KMS calls made as the role ACK uses.
    let trail = &trail_client(&ack, ack.admin());
    let events = eventually(
        "Encrypt by the role in ActionTrail",
        Duration::from_secs(20),
        move || async move {
            let events = trail
                .lookup_events(&LookupEventsRequest {
                    lookup_attributes: vec![
                        LookupAttribute::new(LookupKey::EventName, "Encrypt"),
                        LookupAttribute::new(LookupKey::User, CS_SECURITY_ROLE),
                    ],
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?
                .events;
            if events.is_empty() {
                Err("no Encrypt by the role yet".to_string())
            } else {
                Ok(events)
            }
        },
    )
    .await;
    assert!(
        events
            .iter()
            .all(|e| e.user_identity.role_name() == Some(CS_SECURITY_ROLE)),
        "{events:?}"
    );

    // Still within the cool-down after running; the emulator's control ends it so the test
    // need not wait five minutes.
    let cooling = cs
        .update_kms_encryption(cluster, UpdateKmsEncryption::disable())
        .await
        .unwrap_err();
    assert!(matches!(cooling, CsError::CoolDown(_)), "{cooling}");
    ack.end_cool_down().await.unwrap();

    // Disable: identity writes again, the Secret written under KMS still reads back.
    cs.update_kms_encryption(cluster, UpdateKmsEncryption::disable())
        .await
        .unwrap();
    until_running(&ack, &cs).await;
    assert_eq!(ack.applied(), 2);
    let off = cs.describe_cluster_detail(cluster).await.unwrap();
    assert_eq!(off.secret_encryption_key(), Some(None));
    let client = cp.client().await.unwrap();
    reads_back(&client, &ns, "under-kms").await;
    create_secret(&client, &ns, "plain-after").await;
    let raw = stored(&etcd, &ns, "plain-after").await;
    assert!(
        !raw.starts_with(b"k8s:enc:"),
        "stored as {:?}",
        &raw[..raw.len().min(40)]
    );
    assert!(holds_marker(&raw), "identity stores the value as written");
}
