//! The cluster layouts of `secretkms_e2e::layout`, each started on the real control plane and
//! proved from the outside: the KMS checks the apiserver lists in `/readyz?verbose` (named as
//! `config.go`'s `LoadEncryptionConfig` decides: one `kms-providers` with KMS v2 only or with
//! reload on, `kms-provider-<i>` per KMS provider with KMS v1 and reload off), whether the reload
//! post-start hook runs, the prefix a new Secret gets in etcd (the first provider's), and with two
//! apiservers that each answers and reads what the other wrote.
//!
//! Control planes are the slow part, so each test starts its independent variants at once, one
//! thread each.

use secretkms_e2e::fixtures::{create_secret, holds_marker, in_parallel, reads_back, variant};
use secretkms_e2e::kms::{EncryptedObject, KmsStackOptions};
use secretkms_e2e::layout::{
    KMS_V1_PROVIDER, KMS_V2_PROVIDER, KeyIdMode, KmsApi, Layout, ProviderKind, Reload,
};
use secretkms_e2e::{Cluster, ControlPlane, Options, Readyz};

const EMULATOR: &str = env!("CARGO_BIN_EXE_secretkms-kms-emulator-e2e");
const PLUGIN: &str = env!("CARGO_BIN_EXE_secretkms-kms-plugin-e2e");
/// Must be readable in etcd only when `identity` writes.
/// The post-start hook the apiserver runs only with automatic reload on.
const RELOAD_HOOK: &str = "poststarthook/start-encryption-provider-config-automatic-reload";

async fn start(layout: Layout) -> Cluster {
    layout
        .start(KmsStackOptions::new(EMULATOR, PLUGIN), Options::default())
        .await
        .unwrap_or_else(|e| panic!("starting layout {layout}: {e}"))
}

async fn stored(cp: &ControlPlane, ns: &str, name: &str) -> Vec<u8> {
    cp.etcd()
        .get(&format!("/registry/secrets/{ns}/{name}"))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no etcd key for Secret {ns}/{name}"))
}

/// Writes a Secret through the first apiserver, reads it back and returns what etcd holds.
async fn write_one(cp: &ControlPlane, purpose: &str) -> (String, Vec<u8>) {
    let client = cp.client().await.unwrap();
    let ns = cp.namespace(&client, purpose).await.unwrap();
    create_secret(&client, &ns, "app").await;
    reads_back(&client, &ns, "app").await;
    let raw = stored(cp, &ns, "app").await;
    (ns, raw)
}

/// Asserts that a new Secret is stored under `prefix` and its value is not readable in etcd.
async fn writes_under(cp: &ControlPlane, prefix: &str) -> Vec<u8> {
    let (ns, raw) = write_one(cp, "prefix").await;
    assert!(
        raw.starts_with(prefix.as_bytes()),
        "{ns}/app should be stored under {prefix:?}, starts with {:?}",
        String::from_utf8_lossy(&raw[..raw.len().min(prefix.len() + 8)])
    );
    assert!(!holds_marker(&raw), "the value is readable in etcd");
    raw
}

/// `/readyz?verbose` of the first apiserver, with its KMS check names and the reload hook.
async fn readyz(cp: &ControlPlane) -> Readyz {
    let client = cp.client().await.unwrap();
    Readyz::get(&client).await.unwrap()
}

/// The apiserver lists exactly `expected` as KMS checks, all passing, and runs the reload hook
/// exactly when `reload` is on.
async fn lists_kms_checks(cp: &ControlPlane, expected: &[&str], reload: Reload) {
    let r = readyz(cp).await;
    assert_eq!(r.kms_checks(), expected, "/readyz?verbose:\n{}", r.body);
    for name in expected {
        assert!(r.passes(name), "{name} fails; /readyz?verbose:\n{}", r.body);
    }
    assert_eq!(
        r.passes(RELOAD_HOOK),
        reload.enabled(),
        "the reload hook runs exactly with reload on; /readyz?verbose:\n{}",
        r.body
    );
    assert_eq!(r.status, 200, "/readyz?verbose:\n{}", r.body);
}

#[test]
fn kms_v2_layouts_show_their_checks_their_first_provider_and_every_apiserver() {
    in_parallel(vec![
        variant("identity first, reload off", || async {
            let layout = Layout {
                providers: vec![ProviderKind::Identity, ProviderKind::Kms],
                reload: Reload::Off,
                ..Default::default()
            };
            let cluster = start(layout).await;
            let cp = &cluster.control_plane;
            lists_kms_checks(cp, &["kms-providers"], Reload::Off).await;
            let (ns, raw) = write_one(cp, "identity-first").await;
            assert!(
                raw.starts_with(b"k8s\x00"),
                "{ns}/app is stored as plain protobuf, starts with {:?}",
                String::from_utf8_lossy(&raw[..raw.len().min(16)])
            );
            assert!(
                holds_marker(&raw),
                "with identity first the value is in etcd in plaintext"
            );
        }),
        variant("two apiservers, kms v2 first", || async {
            let cluster = start(Layout {
                apiservers: 2,
                ..Default::default()
            })
            .await;
            two_apiservers_share_one_store(&cluster).await;
        }),
    ]);
}

async fn two_apiservers_share_one_store(cluster: &Cluster) {
    let cp = &cluster.control_plane;
    let kms = cluster.kms();
    let [first, second] = cp.apiservers() else {
        panic!("expected two apiservers, got {}", cp.apiservers().len())
    };
    assert_ne!(first.server, second.server, "each has its own port");
    assert_eq!(kms.sockets().len(), 2, "one plugin per apiserver");
    for (apiserver, socket) in cp.apiservers().iter().zip(kms.sockets()) {
        let config =
            std::fs::read_to_string(apiserver.encryption_config.as_ref().unwrap()).unwrap();
        assert!(
            config.contains(&format!("endpoint: unix://{}", socket.display())),
            "{} talks to its own plugin {}:\n{config}",
            apiserver.server,
            socket.display()
        );
        let r = Readyz::get(&apiserver.client().await.unwrap())
            .await
            .unwrap();
        assert_eq!(
            r.kms_checks(),
            ["kms-providers"],
            "{}:\n{}",
            apiserver.server,
            r.body
        );
        assert!(
            r.passes("kms-providers"),
            "{}:\n{}",
            apiserver.server,
            r.body
        );
        assert!(
            r.passes(RELOAD_HOOK),
            "reload is on by default:\n{}",
            r.body
        );
    }

    let one = first.client().await.unwrap();
    let two = second.client().await.unwrap();
    let ns = cp.namespace(&one, "two-apiservers").await.unwrap();
    create_secret(&one, &ns, "from-first").await;
    create_secret(&two, &ns, "from-second").await;
    reads_back(&two, &ns, "from-first").await;
    reads_back(&one, &ns, "from-second").await;

    let prefix = format!("k8s:enc:kms:v2:{KMS_V2_PROVIDER}:");
    for name in ["from-first", "from-second"] {
        let raw = stored(cp, &ns, name).await;
        assert!(!holds_marker(&raw), "{ns}/{name} is readable in etcd");
        let object = EncryptedObject::from_stored(KMS_V2_PROVIDER, &raw)
            .unwrap_or_else(|e| panic!("{ns}/{name} under {prefix:?}: {e}"));
        // Per-version key ids (the default): `<CMK id>/<key version id>`, as each plugin says.
        assert!(
            object.key_id.starts_with(&format!("{}/", kms.key())),
            "{ns}/{name} names a per-version key_id of the CMK, got {:?}",
            object.key_id
        );
    }
    for i in 0..2 {
        let status = kms.status_of(i).await.unwrap();
        assert!(
            status.key_id.starts_with(&format!("{}/", kms.key())),
            "plugin {i} reports {:?}",
            status.key_id
        );
    }
}

#[test]
fn local_key_providers_write_under_their_own_prefix_even_before_kms() {
    in_parallel(vec![
        variant("aescbc first, then kms", || async {
            let cluster = start(Layout {
                providers: ProviderKind::parse_list("aescbc,kms,identity").unwrap(),
                ..Default::default()
            })
            .await;
            let cp = &cluster.control_plane;
            // The KMS check is healthy, and says nothing about who writes.
            lists_kms_checks(cp, &["kms-providers"], Reload::On).await;
            writes_under(cp, "k8s:enc:aescbc:v1:key1:").await;
        }),
        variant("secretbox first", || async {
            let cluster = start(Layout {
                providers: ProviderKind::parse_list("secretbox,identity").unwrap(),
                ..Default::default()
            })
            .await;
            assert!(cluster.kms.is_none(), "no kms provider, no KMS stack");
            let cp = &cluster.control_plane;
            // With reload on the check exists even without a KMS provider (a no-op).
            lists_kms_checks(cp, &["kms-providers"], Reload::On).await;
            writes_under(cp, "k8s:enc:secretbox:v1:key1:").await;
        }),
        variant("aesgcm first, reload off", || async {
            let cluster = start(Layout {
                providers: ProviderKind::parse_list("aesgcm,identity").unwrap(),
                reload: Reload::Off,
                ..Default::default()
            })
            .await;
            let cp = &cluster.control_plane;
            lists_kms_checks(cp, &[], Reload::Off).await;
            writes_under(cp, "k8s:enc:aesgcm:v1:key1:").await;
        }),
    ]);
}

#[test]
fn kms_v1_layouts_name_one_check_per_provider_without_reload() {
    in_parallel(vec![
        variant("v1, reload off", || async {
            let cluster = start(Layout {
                kms_api: KmsApi::V1,
                reload: Reload::Off,
                ..Default::default()
            })
            .await;
            let cp = &cluster.control_plane;
            lists_kms_checks(cp, &["kms-provider-0"], Reload::Off).await;
            writes_under(cp, &format!("k8s:enc:kms:v1:{KMS_V1_PROVIDER}:")).await;
        }),
        variant("v1, reload on", || async {
            let cluster = start(Layout {
                kms_api: KmsApi::V1,
                ..Default::default()
            })
            .await;
            let cp = &cluster.control_plane;
            lists_kms_checks(cp, &["kms-providers"], Reload::On).await;
            writes_under(cp, &format!("k8s:enc:kms:v1:{KMS_V1_PROVIDER}:")).await;
        }),
        variant("v2 then v1, reload off", || async {
            let cluster = start(Layout {
                kms_api: KmsApi::Both,
                reload: Reload::Off,
                ..Default::default()
            })
            .await;
            let cp = &cluster.control_plane;
            lists_kms_checks(cp, &["kms-provider-0", "kms-provider-1"], Reload::Off).await;
            writes_under(cp, &format!("k8s:enc:kms:v2:{KMS_V2_PROVIDER}:")).await;
        }),
    ]);
}

#[test]
fn constant_key_id_mode_names_the_cmk_in_status_and_in_etcd() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let cluster = start(Layout {
                key_id_mode: KeyIdMode::Constant,
                ..Default::default()
            })
            .await;
            let kms = cluster.kms();
            let status = kms.status().await.unwrap();
            assert_eq!(status.key_id, kms.key(), "Status names the CMK alone");
            let raw = writes_under(
                &cluster.control_plane,
                &format!("k8s:enc:kms:v2:{KMS_V2_PROVIDER}:"),
            )
            .await;
            let object = EncryptedObject::from_stored(KMS_V2_PROVIDER, &raw).unwrap();
            assert_eq!(object.key_id, kms.key(), "the envelope names the CMK alone");
        });
}
