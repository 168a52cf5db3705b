//! `secretkms-demo`: the whole story on a local, real control plane — etcd and kube-apiserver
//! built from upstream source, Secrets envelope-encrypted through the KMS v2 plugin and the
//! project's Alibaba Cloud KMS emulator, the secretkms webhook guarding writes, and
//! `kubectl secretkms` doing the rotation rewrite.
//!
//! It runs the real binaries built next to it (`cargo build --workspace --bins`). Secret values
//! are never printed: the demo says whether a value's bytes can be found in etcd, not the value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, CustomResourceExt};
use secretkms_core::secret_encryption::{SecretEncryption, SecretEncryptionSpec};
use secretkms_e2e::kms::{
    EncryptedObject, KmsStack, KmsStackOptions, await_key_id_adoption, emulator_credentials,
};
use secretkms_e2e::webhook::{register, with_secret_encryption_rule};
use secretkms_e2e::{ControlPlane, Options, TEST_NAMESPACE_LABEL, Webhook, WebhookOptions};

#[path = "secretkms-demo/ack_story.rs"]
mod ack_story;

const PROVIDER: &str = "secretkms";
const VALUE: &[u8] = b"demo-value-not-a-real-password";
const SECRETS: usize = 40;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    let bins = sibling_binaries()?;
    println!("secretkms demo: KMS-encrypted Secrets on a real local control plane\n");

    step(
        1,
        "Alibaba Cloud KMS (the project's emulator) with an Aliyun_AES_256 key, and the KMS v2 plugin",
    );
    let stack = KmsStack::start(KmsStackOptions::new(
        bins.join("secretkms-kms-emulator"),
        bins.join("secretkms-kms-plugin"),
    ))
    .await
    .context("starting the KMS emulator and plugin")?;
    let key = stack.key().to_string();
    say(&format!(
        "key {key}; plugin key_id {}",
        stack.status().await?.key_id
    ));

    step(
        2,
        "kube-apiserver + etcd, encrypting Secrets through the plugin (KMS v2)",
    );
    let cp = ControlPlane::start(Options {
        encryption: stack.encryption(PROVIDER),
        ..Default::default()
    })
    .await
    .context("starting the control plane")?;
    say(&format!(
        "apiserver {} ready in {:.1}s",
        cp.server,
        cp.ready_in.as_secs_f64()
    ));
    let client = cp.client().await?;
    let ns = cp.namespace(&client, "demo").await?;
    for i in 0..SECRETS {
        create(&client, &ns, &format!("app-{i:03}"))
            .await
            .context("creating Secrets")?;
    }
    let stored = cp
        .etcd()
        .get(&format!("/registry/secrets/{ns}/app-000"))
        .await?
        .context("not in etcd")?;
    let object = EncryptedObject::from_stored(PROVIDER, &stored)?;
    say(&format!(
        "{SECRETS} Secrets written; etcd holds `k8s:enc:kms:v2:{PROVIDER}:` + an envelope naming keyID {}",
        object.key_id
    ));
    say(&format!(
        "the value is readable in etcd: {}",
        if contains(&stored, VALUE) {
            "YES"
        } else {
            "no"
        }
    ));

    step(
        3,
        "secretkms: the SecretEncryption `cluster` names the key; the webhook guards Secret writes",
    );
    install_crd(&client).await?;
    let spec: SecretEncryptionSpec =
        serde_json::from_value(serde_json::json!({ "key": key, "region": "cn-hangzhou" }))?;
    Api::<SecretEncryption>::all(client.clone())
        .create(
            &PostParams::default(),
            &SecretEncryption::new("cluster", spec),
        )
        .await?;
    let webhook = Webhook::start(
        &cp,
        &bins.join("secretkms-webhook"),
        WebhookOptions {
            apiserver_probe: true,
            monitor: true,
            env: emulator_credentials(),
            extra_args: vec![format!("--kms-endpoint={}", stack.emulator_url())],
            ..Default::default()
        },
    )
    .await?;
    let config = with_secret_encryption_rule(webhook.configuration(
        "secretkms",
        (TEST_NAMESPACE_LABEL, "on"),
        "Fail",
    ));
    register(&client, &webhook, &config, &ns).await?;
    wait_until("writes are admitted", || async {
        kubectl_create(&cp, &ns, "healthy").is_ok()
    })
    .await?;
    say("a Secret write is admitted while the key is healthy");
    wait_until("the status is written", || async {
        condition(&cp, "Ready") == "True"
    })
    .await?;
    show(&cp, &["get", "secretencryption"]);

    step(4, "someone disables the key in KMS");
    stack.admin().disable(&key).await?;
    let mut attempt = 0;
    let denied = wait_for(|| {
        attempt += 1;
        let result = kubectl_create(&cp, &ns, &format!("while-disabled-{attempt}"));
        async move { result.err() }
    })
    .await?;
    say("kubectl create secret ... is denied:");
    for line in denied.lines().filter(|l| l.starts_with("error:")) {
        println!("      {}", line.trim());
    }
    wait_until("the status shows it", || async {
        condition(&cp, "KeyUsable") == "False"
    })
    .await?;
    show(&cp, &["get", "secretencryption"]);

    step(5, "the key is re-enabled");
    stack.admin().enable(&key).await?;
    wait_until("writes are admitted again", || async {
        kubectl_create(&cp, &ns, "re-enabled").is_ok()
    })
    .await?;
    say("Secret writes are admitted again");

    step(
        6,
        "KMS rotates the key: the plugin reports a new key_id and the apiserver adopts it",
    );
    let old_key_id = object.key_id.clone();
    stack.admin().rotate(&key).await?;
    let new_key_id = stack
        .wait_status("a new key_id", Duration::from_secs(30), |s| {
            s.key_id != old_key_id
        })
        .await?
        .key_id;
    let probe = format!("/registry/secrets/{ns}/rotation-probe");
    let adopted = await_key_id_adoption(&client, Duration::from_secs(120), || {
        let (client, ns, cp, probe, new_key_id) = (
            client.clone(),
            ns.clone(),
            &cp,
            probe.clone(),
            new_key_id.clone(),
        );
        async move {
            let _ = Api::<Secret>::namespaced(client.clone(), &ns)
                .delete("rotation-probe", &Default::default())
                .await;
            create(&client, &ns, "rotation-probe").await.ok();
            let stored = cp
                .etcd()
                .get(&probe)
                .await
                .ok()
                .flatten()
                .unwrap_or_default();
            Ok(EncryptedObject::from_stored(PROVIDER, &stored)
                .map(|o| o.key_id == new_key_id)
                .unwrap_or(false))
        }
    })
    .await?;
    say(&format!(
        "new key_id {new_key_id}, adopted in {:.0}s; old Secrets stay under the old one:",
        adopted.as_secs_f64()
    ));
    print_counts(&cp, &ns).await?;

    step(
        7,
        "kubectl secretkms rewrite: every Secret re-encrypted under the new key version",
    );
    let out = plugin(
        &cp,
        &bins,
        &[
            "rewrite",
            "-A",
            "--expect-key-id",
            &new_key_id,
            "--kms-endpoint",
            stack.emulator_url(),
        ],
    )?;
    print_indented(&out);
    print_counts(&cp, &ns).await?;
    let status = plugin(
        &cp,
        &bins,
        &[
            "status",
            "--kms-endpoint",
            stack.emulator_url(),
            "--etcd-endpoints",
            cp.etcd_endpoint(),
        ],
    )?;
    print_indented(&status);

    println!(
        "\npart one done in {:.0}s: healthy → key disabled → writes denied with the reason → key re-enabled → rotation → rewrite → every Secret on the new key.",
        started.elapsed().as_secs_f64()
    );
    drop(webhook);
    drop(cp);
    drop(stack);

    ack_story::story(&bins).await?;
    println!(
        "\ndone in {:.0}s: part two — preflight stops on the missing authorization → authorized → enable → updating → running → verified (ActionTrail) → guarded → rotation → rewrite → disable → verified → guard in audit.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn step(n: u32, title: &str) {
    println!("\n[{n}/7] {title}");
}

fn say(text: &str) {
    println!("    {text}");
}

fn print_indented(text: &str) {
    for line in text.lines() {
        println!("      {line}");
    }
}

fn show(cp: &ControlPlane, args: &[&str]) {
    let out = cp
        .kubectl()
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    print_indented(&out.unwrap_or_default());
}

/// A condition's status on the SecretEncryption, as kubectl shows it.
fn condition(cp: &ControlPlane, type_: &str) -> String {
    let path = format!("jsonpath={{.status.conditions[?(@.type==\"{type_}\")].status}}");
    let out = cp
        .kubectl()
        .args(["get", "secretencryption", "cluster", "-o", &path])
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The real binaries, built next to this one by `cargo build --workspace --bins`.
fn sibling_binaries() -> anyhow::Result<PathBuf> {
    let dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("no directory for the demo binary")?;
    for name in [
        "secretkms-webhook",
        "secretkms-kms-emulator",
        "secretkms-kms-plugin",
        "kubectl-secretkms",
    ] {
        if !dir.join(name).is_file() {
            bail!(
                "{} is missing next to the demo: run `cargo build --workspace --bins` (hack/demo.sh does)",
                name
            );
        }
    }
    Ok(dir)
}

/// `kubectl secretkms ...` through the real kubectl's plugin discovery (kubectl refuses flags
/// before a plugin's name, so the kubeconfig goes in the environment).
fn plugin(cp: &ControlPlane, bins: &Path, args: &[&str]) -> anyhow::Result<String> {
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(cp.binaries().kubectl())
        .arg("secretkms")
        .args(args)
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("PATH", path)
        .envs(emulator_credentials())
        .env("NO_COLOR", "1")
        .output()
        .context("running kubectl secretkms")?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match out.status.code() {
        Some(0) | Some(1) => Ok(text),
        _ => bail!(
            "kubectl secretkms {} failed ({}):\n{text}",
            args.join(" "),
            out.status
        ),
    }
}

fn kubectl_create(cp: &ControlPlane, ns: &str, name: &str) -> Result<(), String> {
    let out = cp
        .kubectl()
        .args([
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            name,
            "--from-literal=password=demo",
        ])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() || String::from_utf8_lossy(&out.stderr).contains("already exists") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

async fn create(client: &Client, ns: &str, name: &str) -> kube::Result<Secret> {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([(
            "password".into(),
            ByteString(VALUE.to_vec()),
        )])),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
}

/// How many of the namespace's Secrets are stored under each keyID, read straight from etcd.
async fn print_counts(cp: &ControlPlane, ns: &str) -> anyhow::Result<()> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for (_, value) in cp
        .etcd()
        .prefix(&format!("/registry/secrets/{ns}/"))
        .await?
    {
        let key_id = EncryptedObject::from_stored(PROVIDER, &value)
            .map(|o| o.key_id)
            .unwrap_or_else(|_| "(not kms v2)".into());
        *counts.entry(key_id).or_default() += 1;
    }
    for (key_id, n) in counts {
        say(&format!("etcd: {n:>3} Secrets under keyID {key_id}"));
    }
    Ok(())
}

async fn install_crd(client: &Client) -> anyhow::Result<()> {
    let crds = Api::<CustomResourceDefinition>::all(client.clone());
    crds.create(&PostParams::default(), &SecretEncryption::crd())
        .await?;
    wait_until("the CRD is established", || async {
        crds.get("secretencryptions.secretkms.io")
            .await
            .ok()
            .and_then(|c| c.status)
            .and_then(|s| s.conditions)
            .is_some_and(|c| {
                c.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            })
    })
    .await
}

async fn wait_until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let since = Instant::now();
    while !check().await {
        if since.elapsed() > Duration::from_secs(90) {
            bail!("gave up waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

async fn wait_for<T, F, Fut>(mut get: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let since = Instant::now();
    loop {
        if let Some(v) = get().await {
            return Ok(v);
        }
        if since.elapsed() > Duration::from_secs(90) {
            bail!("gave up waiting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
