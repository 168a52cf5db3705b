//! Real envelope encryption, end to end: kube-apiserver → the KMS v2 plugin (a real process on
//! a unix socket) → the KMS emulator (a real process speaking Alibaba Cloud's wire protocol).
//! Secrets are read back from etcd and their `EncryptedObject` decoded; the key is rotated,
//! disabled and re-enabled in the emulator and the apiserver's own KMS health is watched.
//!
//! The first test is one on purpose: a control plane takes a while to start, and the steps build
//! on each other (rotation must come before the disable, whose health-check timing depends on
//! it). The second puts the plugin through apiserver restarts and a flapping KMS, on its own
//! control plane.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use secretkms_e2e::EtcdReader;
use secretkms_e2e::fixtures::{create_secret, encrypted_cluster, holds_marker, reads_back, secret};
use secretkms_e2e::kms::{
    self, EncryptedObject, KmsStackOptions, encrypted_object::HKDF_SHA256_XNONCE_AES_GCM_SEED,
};
use secretkms_kms_plugin::key_id::KEY_VERSION_ANNOTATION;

const PROVIDER: &str = "e2e";

async fn stored(etcd: &EtcdReader, ns: &str, name: &str) -> Vec<u8> {
    etcd.get(&format!("/registry/secrets/{ns}/{name}"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no etcd key for Secret {ns}/{name}"))
}

async fn envelope(etcd: &EtcdReader, ns: &str, name: &str) -> EncryptedObject {
    let raw = stored(etcd, ns, name).await;
    assert!(
        !holds_marker(&raw),
        "the Secret's value is readable in etcd"
    );
    EncryptedObject::from_stored(PROVIDER, &raw).unwrap_or_else(|e| panic!("{ns}/{name}: {e}"))
}

#[tokio::test]
async fn secrets_are_envelope_encrypted_through_the_plugin_and_follow_the_key() {
    let started = Instant::now();
    let (stack, cp) = encrypted_cluster(
        KmsStackOptions::new(
            env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e"),
            env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e"),
        ),
        PROVIDER,
    )
    .await;
    let client = cp.client().await.unwrap();
    let etcd = cp.etcd();
    let ns = cp.namespace(&client, "kms-v2").await.unwrap();
    let admin = stack.admin();
    let key = stack.key().to_string();

    // 1. The plugin's key_id is the key's primary version, and etcd holds the v2 envelope
    //    naming it.
    let first_version = admin.primary_version(&key).await.unwrap();
    let first_key_id = stack.status().await.unwrap().key_id;
    assert_eq!(first_key_id, format!("{key}/{first_version}"));
    create_secret(&client, &ns, "before-rotation").await;
    let before = envelope(&etcd, &ns, "before-rotation").await;
    assert_eq!(before.key_id, first_key_id);
    assert_eq!(
        before.annotations[KEY_VERSION_ANNOTATION],
        first_version.as_bytes()
    );
    assert_eq!(
        before.encrypted_dek_source_type,
        HKDF_SHA256_XNONCE_AES_GCM_SEED
    );
    assert!(!before.encrypted_dek_source.is_empty() && !before.encrypted_data.is_empty());
    reads_back(&client, &ns, "before-rotation").await;

    // 2. Rotate in KMS: the plugin reports the new version, the apiserver adopts it, new
    //    writes name it, and the old Secret still decrypts.
    let second_version = admin.rotate(&key).await.unwrap();
    let second_key_id = format!("{key}/{second_version}");
    stack
        .wait_status("the rotated key_id", Duration::from_secs(10), |s| {
            s.key_id == second_key_id
        })
        .await
        .unwrap();
    let probes = Arc::new(AtomicUsize::new(0));
    let took = kms::await_key_id_adoption(&client, Duration::from_secs(90), || {
        let (client, etcd, ns, probes) = (client.clone(), etcd.clone(), ns.clone(), probes.clone());
        let want = second_key_id.clone();
        async move {
            let name = format!("probe-{}", probes.fetch_add(1, Ordering::SeqCst));
            create_secret(&client, &ns, &name).await;
            Ok(envelope(&etcd, &ns, &name).await.key_id == want)
        }
    })
    .await
    .unwrap();
    eprintln!(
        "apiserver adopted the rotated key_id after {took:?} ({} probe writes)",
        probes.load(Ordering::SeqCst)
    );
    create_secret(&client, &ns, "after-rotation").await;
    let after = envelope(&etcd, &ns, "after-rotation").await;
    assert_eq!(after.key_id, second_key_id);
    assert_eq!(
        after.annotations[KEY_VERSION_ANNOTATION],
        second_version.as_bytes()
    );
    assert_ne!(after.encrypted_dek_source, before.encrypted_dek_source);
    let old = envelope(&etcd, &ns, "before-rotation").await;
    assert_eq!(old.key_id, first_key_id, "nothing rewrote the old Secret");
    reads_back(&client, &ns, "before-rotation").await;
    reads_back(&client, &ns, "after-rotation").await;

    // 3. Disable the key: the plugin says why, and the apiserver's KMS health fails.
    admin.disable(&key).await.unwrap();
    let unhealthy = stack
        .wait_status("an unhealthy Status", Duration::from_secs(10), |s| {
            s.healthz != "ok"
        })
        .await
        .unwrap();
    assert_eq!(
        unhealthy.healthz,
        format!("key {key} is Disabled; EnableKey makes it usable again")
    );
    assert_eq!(
        unhealthy.key_id, second_key_id,
        "key_id stays put while unhealthy"
    );
    // A success is cached for 20 s; after that the next check asks the plugin.
    let (status, body, took) = kms::wait_kms_providers(
        &client,
        "/readyz/kms-providers to fail",
        Duration::from_secs(45),
        |status, _| status == 500,
    )
    .await
    .unwrap();
    eprintln!("/readyz/kms-providers failed {took:?} after the disable: {status} {body}");
    assert!(
        body.contains("is Disabled"),
        "the apiserver's error carries the plugin's reason: {body}"
    );

    // 4. Re-enable: healthy again (failures are cached only 3 s).
    admin.enable(&key).await.unwrap();
    let (_, _, took) = kms::wait_kms_providers(
        &client,
        "/readyz/kms-providers to recover",
        Duration::from_secs(30),
        |status, body| status == 200 && body.trim() == "ok",
    )
    .await
    .unwrap();
    eprintln!("/readyz/kms-providers recovered {took:?} after the enable");
    create_secret(&client, &ns, "after-enable").await;
    assert_eq!(
        envelope(&etcd, &ns, "after-enable").await.key_id,
        second_key_id
    );
    reads_back(&client, &ns, "after-enable").await;
    eprintln!("whole test: {:?}", started.elapsed());
}

/// The plugin under the faults a node sees: the apiserver restarting, and the network path to
/// KMS flapping and then down while the apiserver restarts. The plugin process keeps running
/// throughout (nothing restarts it), its healthz rides out the short flaps (they are within its
/// failure grace), Secret writes and reads go on through the flaps (KMS v2 keeps its DEK seed
/// and the decrypted DEKs in the apiserver), and an apiserver that restarted while KMS was away
/// becomes ready once KMS is back, reading every Secret with its data unchanged.
#[tokio::test]
async fn the_plugin_rides_out_apiserver_restarts_and_a_flapping_kms() {
    let (mut stack, cp) = encrypted_cluster(
        KmsStackOptions {
            kms_link: true,
            ..KmsStackOptions::new(
                env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e"),
                env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e"),
            )
        },
        PROVIDER,
    )
    .await;
    let client = cp.client().await.unwrap();
    let ns = cp.namespace(&client, "plugin-faults").await.unwrap();
    let key_id = stack.status().await.unwrap().key_id;
    let mut names = Vec::new();
    for i in 0..10 {
        names.push(format!("before-{i}"));
        create_secret(&client, &ns, &names[i]).await;
    }

    // 1. The apiserver restarts with KMS up: it reconnects to the same plugin process.
    for round in 0..2 {
        let took = cp.apiservers()[0].restart().await.unwrap();
        eprintln!("apiserver restart {round}: ready again in {took:?}");
        let client = cp.client().await.unwrap();
        for name in &names {
            reads_back(&client, &ns, name).await;
        }
        let name = format!("after-restart-{round}");
        create_secret(&client, &ns, &name).await;
        names.push(name);
        stack.check_alive().unwrap();
    }

    // 2. KMS flaps: down 1.5 s, up 1.5 s, six times, under writes and reads.
    let client = cp.client().await.unwrap();
    let writes = Api::<Secret>::namespaced(client.clone(), &ns);
    let turned_away_before = stack.kms_connections_turned_away().unwrap();
    let flapping = async {
        for _ in 0..6 {
            stack.kms_offline().unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
            stack.kms_online().unwrap();
            tokio::time::sleep(Duration::from_millis(1500)).await;
        }
    };
    let traffic = async {
        let (mut written, mut failed) = (Vec::new(), Vec::new());
        let deadline = Instant::now() + Duration::from_secs(18);
        for i in 0.. {
            if Instant::now() > deadline {
                break;
            }
            let name = format!("flap-{i}");
            match writes.create(&PostParams::default(), &secret(&name)).await {
                Ok(_) => written.push(name),
                Err(e) => failed.push(format!("{name}: {e}")),
            }
            if let Err(e) = writes.get(&names[i % names.len()]).await {
                failed.push(format!("reading {}: {e}", names[i % names.len()]));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (written, failed)
    };
    let ((), (written, failed)) = tokio::join!(flapping, traffic);
    eprintln!(
        "through 6 KMS flaps: {} writes, {} failed requests",
        written.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "requests failed while KMS flapped: {failed:#?}"
    );
    names.extend(written);
    stack.check_alive().unwrap();
    // The outages must have met the plugin's calls. A DescribeKey's retries can outlast a
    // 1.5 s outage, so the failed polls it logs are reported, not required: the connections the
    // proxy turned away are the evidence.
    let met = stack.kms_connections_turned_away().unwrap() - turned_away_before;
    assert!(met > 0, "the flaps reached the plugin's KMS calls");
    let felt = stack
        .plugin_log_tail(5_000)
        .matches("DescribeKey failed")
        .count();
    eprintln!("the outages turned away {met} plugin connections; {felt} DescribeKey polls failed");
    let after = stack
        .wait_status("healthz ok after the flaps", Duration::from_secs(30), |s| {
            s.healthz == "ok"
        })
        .await
        .unwrap();
    assert_eq!(
        after.key_id, key_id,
        "the flaps changed nothing about the key"
    );

    // 3. KMS goes away and the apiserver restarts meanwhile: it cannot make its DEK seed or
    //    decrypt the stored ones until KMS is back, and then it becomes ready on its own.
    stack.kms_offline().unwrap();
    let restarted = async {
        let took = cp.apiservers()[0].restart().await;
        (took, Instant::now())
    };
    let reconnect = async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        stack.kms_online().unwrap();
        Instant::now()
    };
    let ((took, ready_at), online_at) = tokio::join!(restarted, reconnect);
    let took = took.unwrap_or_else(|e| panic!("{e}\nplugin log:\n{}", stack.plugin_log_tail(30)));
    eprintln!(
        "apiserver restarted while KMS was away: ready after {took:?}, {:?} after KMS came back",
        ready_at.saturating_duration_since(online_at)
    );
    stack.check_alive().unwrap();
    let client = cp.client().await.unwrap();
    for name in &names {
        reads_back(&client, &ns, name).await;
    }
    create_secret(&client, &ns, "after-the-outage").await;
    reads_back(&client, &ns, "after-the-outage").await;
}
