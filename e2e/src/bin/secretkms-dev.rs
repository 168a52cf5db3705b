//! `secretkms-dev`: the test control plane from the shell, for trying things by hand.
//!
//! `secretkms-dev up [layout flags]` starts etcd and kube-apiserver (and, when a provider is
//! `kms`, the KMS emulator and one KMS plugin per apiserver), prints where they are and a
//! kubeconfig, and keeps them until Ctrl-C (or until this process is killed: the children die
//! with it). Without flags it is a plain cluster, as it always was. `secretkms-dev up --ack` is
//! the local ACK instead: the emulator's CS API driving the control plane's encryption.

use std::path::PathBuf;

use anyhow::{Context, bail};
use secretkms_e2e::ack::{LocalAck, LocalAckOptions};
use secretkms_e2e::kms::KmsStackOptions;
use secretkms_e2e::layout::{KeyIdMode, KmsApi, Layout, ProviderKind, Reload};
use secretkms_e2e::{Cluster, Options};

const USAGE: &str = "usage: secretkms-dev up [--providers LIST] [--kms-api v1|v2|both] [--key-id-mode per-version|constant] [--reload on|off] [--apiservers N] [--aescbc]
       secretkms-dev up --ack

Starts a real etcd + kube-apiserver on loopback and keeps them until Ctrl-C.

  --providers LIST     the providers for Secrets in order, the first writes: any of kms, identity,
                       aescbc, secretbox, aesgcm (local keys are generated); default: none (plain
                       cluster), or kms,identity when --kms-api or --key-id-mode is given
  --kms-api API        v2 (default), v1 (the apiserver gets --feature-gates=KMSv1=true), or both
                       (a v2 provider, then a v1 provider, on the same plugin)
  --key-id-mode MODE   the plugin's key_id: per-version (default, <CMK id>/<version id>) or
                       constant (the CMK id, as Alibaba Cloud's plugin)
  --reload on|off      --encryption-provider-config-automatic-reload (default on)
  --apiservers N       N apiservers on the one etcd, each with its own KMS plugin (default 1)
  --aescbc             the same as --providers aescbc,identity
  --ack                a local ACK (alone, no other flag): one cluster in the KMS emulator whose
                       CS UpdateKMSEncryption rewrites this apiserver's EncryptionConfiguration
                       (KMS as AliyunCSManagedSecurityRole) and restarts it; prints the cluster
                       id, region, emulator endpoint and the AccessKey of the cluster's admin

The KMS stack needs secretkms-kms-emulator-e2e and secretkms-kms-plugin-e2e next to this binary
(`cargo build -p secretkms-e2e --bins`).";

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, flags) = args
        .split_first()
        .map(|(c, f)| (c.as_str(), f))
        .unwrap_or(("help", &[]));
    match cmd {
        "up" if flags.iter().any(|f| f == "--ack") => {
            if flags.len() > 1 {
                bail!("--ack takes no other flag (the local ACK's layout is fixed)");
            }
            up_ack().await
        }
        "up" => up(parse_up(flags)?).await,
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?} (try `secretkms-dev help`)"),
    }
}

/// The layout `up`'s flags ask for; no flags is the plain cluster.
fn parse_up(flags: &[String]) -> anyhow::Result<Layout> {
    let mut layout = Layout {
        providers: vec![],
        ..Default::default()
    };
    let (mut providers, mut kms_flag, mut reload_flag) = (None, false, false);
    let mut flags = flags.iter();
    while let Some(flag) = flags.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (flag.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| flags.next().cloned())
                .with_context(|| format!("{name} needs a value"))
        };
        match name {
            "--providers" => providers = Some(ProviderKind::parse_list(&value()?)?),
            "--aescbc" if inline.is_none() => {
                providers = Some(vec![ProviderKind::AesCbc, ProviderKind::Identity]);
            }
            "--kms-api" => {
                layout.kms_api = value()?.parse::<KmsApi>()?;
                kms_flag = true;
            }
            "--key-id-mode" => {
                layout.key_id_mode = value()?.parse::<KeyIdMode>()?;
                kms_flag = true;
            }
            "--reload" => {
                layout.reload = value()?.parse::<Reload>()?;
                reload_flag = true;
            }
            "--apiservers" => {
                let n = value()?;
                layout.apiservers = n
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .with_context(|| format!("--apiservers {n:?} is not a number from 1 up"))?;
            }
            other => bail!("unknown flag {other:?} for `up` (try `secretkms-dev help`)"),
        }
    }
    layout.providers = match providers {
        Some(list) => list,
        None if kms_flag => vec![ProviderKind::Kms, ProviderKind::Identity],
        None => vec![],
    };
    if kms_flag && !layout.uses_kms() {
        bail!("--kms-api and --key-id-mode need kms in --providers");
    }
    if reload_flag && layout.providers.is_empty() {
        bail!("--reload needs an encryption configuration: give --providers");
    }
    layout.validate()?;
    Ok(layout)
}

async fn up(layout: Layout) -> anyhow::Result<()> {
    let kms = kms_binaries(&layout)?;
    let options = Options {
        keep_dir: true,
        ..Default::default()
    };
    let cluster = layout
        .start(kms, options)
        .await
        .with_context(|| format!("starting the layout {layout}"))?;
    print(&cluster);
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(cluster);
    Ok(())
}

async fn up_ack() -> anyhow::Result<()> {
    let kms = kms_binaries(&Layout {
        providers: vec![ProviderKind::Kms],
        ..Default::default()
    })?;
    let ack = LocalAck::start(LocalAckOptions {
        keep_dir: true,
        ..LocalAckOptions::new(kms.emulator_bin, kms.plugin_bin)
    })
    .await
    .context("starting the local ack")?;
    let cp = ack.control_plane();
    println!("cluster id: {}", ack.cluster_id());
    println!("region: {}", ack.region());
    println!(
        "endpoint (cs, kms, ram, sts, actiontrail, bss): {}",
        ack.emulator_url()
    );
    println!("key for secret encryption: {}", ack.key_id());
    // The secret goes to a file only the user can read, not to the terminal: a local
    // AccessKey of the emulator, but still a credential.
    let admin = ack.admin();
    let env_file = ack.dir().join("ack-admin.env");
    write_private(
        &env_file,
        &format!(
            "export ALIBABA_CLOUD_ACCESS_KEY_ID={}\nexport ALIBABA_CLOUD_ACCESS_KEY_SECRET={}\n",
            admin.access_key_id,
            admin.access_key_secret()
        ),
    )?;
    println!(
        "cluster admin: RAM user {} with AccessKey {} (admin role on the cluster, AliyunKMSCryptoAdminAccess); its secret: source {}",
        admin.name,
        admin.access_key_id,
        env_file.display()
    );
    println!(
        "cluster developer (no right to change encryption): RAM user {} with AccessKey {}",
        ack.developer().name,
        ack.developer().access_key_id
    );
    println!("apiserver: {}", cp.server);
    println!("kubeconfig: {}", cp.kubeconfig.display());
    println!("logs: {} and {}", ack.dir().display(), cp.dir().display());
    println!("try: export KUBECONFIG={}", cp.kubeconfig.display());
    println!("Ctrl-C stops everything.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(ack);
    Ok(())
}

/// Writes `contents` to a new file readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

fn print(cluster: &Cluster) {
    let cp = &cluster.control_plane;
    println!("apiserver: {}", cp.server);
    println!("etcd: {}", cp.etcd_endpoint());
    println!("kubeconfig: {}", cp.kubeconfig.display());
    println!("ready in: {:.1}s", cp.ready_in.as_secs_f64());
    for (i, apiserver) in cp.apiservers().iter().enumerate().skip(1) {
        println!(
            "apiserver {i}: {} kubeconfig {}",
            apiserver.server,
            apiserver.kubeconfig.display()
        );
    }
    if let Some(config) = &cp.encryption_config {
        println!("encryption config: {}", config.display());
    }
    if let Some(kms) = &cluster.kms {
        println!("kms emulator: {} key {}", kms.emulator_url(), kms.key());
        for (i, socket) in kms.sockets().iter().enumerate() {
            println!("kms plugin {i}: unix://{}", socket.display());
        }
    }
    println!("layout: {}", cluster.layout);
    println!("try: export KUBECONFIG={}", cp.kubeconfig.display());
    println!("Ctrl-C stops everything.");
}

/// The emulator and plugin built next to this binary, checked only when the layout uses them.
fn kms_binaries(layout: &Layout) -> anyhow::Result<KmsStackOptions> {
    let dir = std::env::current_exe()
        .context("locating secretkms-dev")?
        .parent()
        .map(PathBuf::from)
        .context("secretkms-dev has no directory")?;
    let emulator = dir.join("secretkms-kms-emulator-e2e");
    let plugin = dir.join("secretkms-kms-plugin-e2e");
    if layout.uses_kms() {
        for bin in [&emulator, &plugin] {
            if !bin.is_file() {
                bail!(
                    "{} is missing: run `cargo build -p secretkms-e2e --bins`",
                    bin.display()
                );
            }
        }
    }
    Ok(KmsStackOptions::new(emulator, plugin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(flags: &str) -> anyhow::Result<Layout> {
        let flags: Vec<String> = flags.split_whitespace().map(String::from).collect();
        parse_up(&flags)
    }

    #[test]
    fn no_flags_is_the_plain_cluster() {
        let layout = parse("").unwrap();
        assert!(layout.providers.is_empty());
        assert_eq!(layout.apiservers, 1);
    }

    #[test]
    fn kms_flags_imply_the_default_kms_providers() {
        let layout = parse("--kms-api both --key-id-mode=constant --reload off").unwrap();
        assert_eq!(
            layout.providers,
            [ProviderKind::Kms, ProviderKind::Identity]
        );
        assert_eq!(layout.kms_api, KmsApi::Both);
        assert_eq!(layout.key_id_mode, KeyIdMode::Constant);
        assert_eq!(layout.reload, Reload::Off);
    }

    #[test]
    fn providers_and_apiservers_are_taken_as_given() {
        let layout = parse("--providers identity,kms --apiservers 2").unwrap();
        assert_eq!(
            layout.providers,
            [ProviderKind::Identity, ProviderKind::Kms]
        );
        assert_eq!(layout.apiservers, 2);
        assert_eq!(
            parse("--aescbc").unwrap().providers,
            [ProviderKind::AesCbc, ProviderKind::Identity]
        );
    }

    #[test]
    fn contradictions_are_refused() {
        for bad in [
            "--kms-api v1 --providers aescbc",
            "--reload off",
            "--apiservers 0",
            "--apiservers",
            "--providers kms,nope",
            "--color",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
