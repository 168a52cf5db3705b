//! Part two of the demo: ACK's documented Secret-encryption story on the local ACK (the KMS
//! emulator's CS API driving a real control plane), told by `kubectl secretkms`: the preflight
//! stops on an account that has not authorized `AliyunCSManagedSecurityRole`, with the fix;
//! once authorized, `enable` takes the cluster through `updating` to `running` and verifies it
//! (KMS health, a canary stored through KMS, ActionTrail's calls by the role); the webhook
//! guards; a rotation and a rewrite; `disable` takes it back, verified, and the guard steps down
//! to audit.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use secretkms_e2e::ack::{LocalAck, LocalAckOptions};
use secretkms_e2e::kms::EmulatorAdmin;
use secretkms_e2e::webhook::{register, with_secret_encryption_rule};
use secretkms_e2e::{TEST_NAMESPACE_LABEL, Webhook, WebhookOptions};

use crate::{condition, install_crd, kubectl_create, print_indented, say, show, wait_until};

/// The part's steps, after part one's.
const STEPS: u32 = 7;

fn step(n: u32, title: &str) {
    println!("\n[ACK {n}/{STEPS}] {title}");
}

pub async fn story(bins: &Path) -> anyhow::Result<()> {
    println!("\nsecretkms demo, part two: ACK's documented flows on a local ACK");

    step(
        1,
        "a local ACK: a cluster storing Secrets in plaintext, an Aliyun_AES_256 key, an account that has not authorized ACK",
    );
    let ack = LocalAck::start(LocalAckOptions::new(
        bins.join("secretkms-kms-emulator"),
        bins.join("secretkms-kms-plugin"),
    ))
    .await
    .context("starting the local ACK")?;
    ack.revoke_security_role().await?;
    say(&format!(
        "cluster {} ({}), key {}, RAM user {} (the cluster's admin)",
        ack.cluster_id(),
        ack.region(),
        ack.key_id(),
        ack.admin().name
    ));
    let cp = ack.control_plane();
    let client = cp.client().await?;
    install_crd(&client).await?;

    step(
        2,
        "kubectl secretkms enable --dry-run: the preflight stops on the missing authorization",
    );
    let (out, _) = run(&ack, bins, &["enable", "--key", ack.key_id(), "--dry-run"])?;
    print_lines(&out, |l| {
        l.contains("security-role") || l.contains("uthoriz")
    });

    step(
        3,
        "the account authorizes AliyunCSManagedSecurityRole; key protect; enable (--force: the rotation policy warning is read)",
    );
    ack.authorize_security_role().await?;
    let emulator = EmulatorAdmin::new(ack.emulator_url());
    let meta = emulator.key(ack.key_id()).await?;
    let account = meta["Arn"]
        .as_str()
        .context("the emulator names the key's ARN")?
        .split(':')
        .nth(3)
        .context("the key ARN names the account")?
        .to_string();
    let break_glass = format!("acs:ram::{account}:role/kms-break-glass");
    let (out, _) = run(
        &ack,
        bins,
        &[
            "key",
            "protect",
            ack.key_id(),
            "--break-glass-role",
            &break_glass,
        ],
    )?;
    print_lines(&out, |l| {
        l.contains("deletion protection") || l.starts_with("RAM policy")
    });
    let (out, _) = run(&ack, bins, &["enable", "--key", ack.key_id(), "--force"])?;
    print_indented(&out);
    if !out.contains("running") {
        bail!("enable did not take the cluster to running:\n{out}");
    }

    step(
        4,
        "the webhook guards what enable declared (the SecretEncryption `cluster`)",
    );
    let webhook = Webhook::start(
        cp,
        &bins.join("secretkms-webhook"),
        WebhookOptions {
            apiserver_probe: true,
            monitor: true,
            env: ack.admin().env(),
            extra_args: vec![format!("--kms-endpoint={}", ack.emulator_url())],
            ..Default::default()
        },
    )
    .await?;
    let ns = cp.namespace(&client, "ack-demo").await?;
    let config = with_secret_encryption_rule(webhook.configuration(
        "secretkms",
        (TEST_NAMESPACE_LABEL, "on"),
        "Fail",
    ));
    register(&client, &webhook, &config, &ns).await?;
    wait_until("the guard reports Ready", || async {
        condition(cp, "Ready") == "True"
    })
    .await?;
    kubectl_create(cp, &ns, "app").map_err(anyhow::Error::msg)?;
    say("a Secret write is admitted: the key is usable and the apiserver writes through KMS");
    show(cp, &["get", "secretencryption"]);

    step(
        5,
        "the key rotates; kubectl secretkms rewrite moves every Secret to the new version",
    );
    let version = emulator.rotate(ack.key_id()).await?;
    say(&format!("the key's primary version is now {version}"));
    let (out, code) = run(&ack, bins, &["rewrite", "-A", "--wait"])?;
    if code != 0 {
        bail!("rewrite failed:\n{out}");
    }
    print_indented(&out);

    step(
        6,
        "kubectl secretkms disable: the guard to audit first, then ACK turns encryption off, verified",
    );
    ack.end_cool_down().await?;
    say("(the demo ends ACK's five-minute cool-down between two changes)");
    let (out, _) = run(&ack, bins, &["disable", "--force"])?;
    print_indented(&out);
    if !out.contains("running") {
        bail!("disable did not take the cluster to running:\n{out}");
    }

    step(
        7,
        "the guard steps down: writes are admitted with a warning, since they are now plaintext",
    );
    let warned = cp
        .kubectl()
        .args(["-n", &ns, "create", "secret", "generic", "after-disable"])
        .arg("--from-literal=k=not-a-real-value")
        .output()
        .context("kubectl create")?;
    print_indented(&String::from_utf8_lossy(&warned.stderr));
    show(cp, &["get", "secretencryption"]);
    drop(webhook);
    Ok(())
}

/// `kubectl secretkms <args>` as the cluster's admin, every Alibaba Cloud API at the emulator:
/// its output and exit code.
fn run(ack: &LocalAck, bins: &Path, args: &[&str]) -> anyhow::Result<(String, i32)> {
    let cp = ack.control_plane();
    let mut path: Vec<PathBuf> = vec![bins.to_path_buf()];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let mut cmd = Command::new(cp.binaries().kubectl());
    cmd.arg("secretkms")
        .args(args)
        .env("KUBECONFIG", &cp.kubeconfig)
        .env("PATH", std::env::join_paths(path)?)
        .envs(ack.admin().env())
        .env("NO_COLOR", "1");
    if ["enable", "disable", "rewrite", "key"].contains(&args[0]) {
        cmd.args(["--kms-endpoint", ack.emulator_url()]);
    }
    if ["enable", "disable", "verify"].contains(&args[0]) {
        cmd.args([
            "--cluster-id",
            ack.cluster_id(),
            "--region",
            ack.region(),
            "--alibaba-endpoint",
            ack.emulator_url(),
        ]);
    }
    let out = cmd.output().context("running kubectl secretkms")?;
    // Progress lines go to stderr while the command runs, its report to stdout at the end.
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    Ok((text, out.status.code().unwrap_or(-1)))
}

fn print_lines(text: &str, keep: impl Fn(&str) -> bool) {
    for line in text.lines().filter(|l| keep(l)) {
        println!("      {line}");
    }
}
