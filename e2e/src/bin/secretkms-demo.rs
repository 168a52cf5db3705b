//! `secretkms-demo`: the story secretkms exists for, told on a real local control plane.
//!
//! Today it shows the problem itself: a Secret written without encryption is readable in etcd;
//! with an encryption provider the apiserver stores an envelope instead. Secret values are never
//! printed: the demo reports whether the value's bytes can be found, not the value.

use std::collections::BTreeMap;

use anyhow::Context;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use secretkms_e2e::{ControlPlane, Encryption, Options};

const VALUE: &[u8] = b"demo-value-not-a-real-password";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    println!("secretkms demo: how a Secret is stored in etcd\n");
    show("1. a cluster without encryption at rest", Encryption::None).await?;
    show(
        "2. the same Secret with an encryption provider (aescbc here; KMS v2 in production)",
        Encryption::AesCbc {
            key_name: "key1".into(),
        },
    )
    .await?;
    println!("secretkms guards the second case: it keeps Secret writes from landing in the first.");
    Ok(())
}

async fn show(title: &str, encryption: Encryption) -> anyhow::Result<()> {
    println!("{title}");
    let cp = ControlPlane::start(Options {
        encryption,
        ..Default::default()
    })
    .await
    .context("starting the control plane")?;
    println!(
        "   kube-apiserver ready at {} in {:.1}s",
        cp.server,
        cp.ready_in.as_secs_f64()
    );
    let client = cp.client().await?;
    let ns = cp.namespace(&client, "demo").await?;
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db-credentials".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "password".into(),
            ByteString(VALUE.to_vec()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client, &ns)
        .create(&PostParams::default(), &secret)
        .await
        .context("creating the Secret")?;
    let key = format!("/registry/secrets/{ns}/db-credentials");
    let stored = cp
        .etcd()
        .get(&key)
        .await?
        .context("the Secret is not in etcd")?;
    let readable = stored.windows(VALUE.len()).any(|w| w == VALUE);
    println!("   etcd key:        {key}");
    println!("   stored bytes:    {}", stored.len());
    println!("   starts with:     {}", printable_prefix(&stored));
    println!(
        "   value readable:  {}\n",
        if readable {
            "YES - anyone with etcd access or a backup can read it"
        } else {
            "no"
        }
    );
    Ok(())
}

/// The envelope prefix (or protobuf magic) in a printable form.
fn printable_prefix(stored: &[u8]) -> String {
    let end = if stored.starts_with(b"k8s:enc:") {
        stored
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b':')
            .nth(4)
            .map(|(i, _)| i + 1)
            .unwrap_or(8)
    } else {
        4
    };
    stored[..end.min(stored.len())]
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                (b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}
