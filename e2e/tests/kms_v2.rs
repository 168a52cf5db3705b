//! Real envelope encryption, end to end: kube-apiserver → the KMS v2 plugin (a real process on
//! a unix socket) → the KMS emulator (a real process speaking Alibaba Cloud's wire protocol).
//! Secrets are read back from etcd and their `EncryptedObject` decoded; the key is rotated,
//! disabled and re-enabled in the emulator and the apiserver's own KMS health is watched.
//!
//! One test on purpose: a control plane takes a while to start, and the steps build on each
//! other (rotation must come before the disable, whose health-check timing depends on it).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use secretkms_e2e::EtcdReader;
use secretkms_e2e::fixtures::{create_secret, encrypted_cluster, holds_marker, reads_back};
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
