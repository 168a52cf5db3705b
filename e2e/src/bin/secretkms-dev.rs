//! `secretkms-dev`: the test control plane from the shell, for trying things by hand.
//!
//! `secretkms-dev up [--aescbc]` starts etcd and kube-apiserver, prints where they are and a
//! kubeconfig, and keeps them until Ctrl-C (or until this process is killed: the children die
//! with it).

use anyhow::{Context, bail};
use secretkms_e2e::{ControlPlane, Encryption, Options};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, flags) = args
        .split_first()
        .map(|(c, f)| (c.as_str(), f))
        .unwrap_or(("help", &[]));
    match cmd {
        "up" => up(flags).await,
        "help" | "--help" | "-h" => {
            println!(
                "usage: secretkms-dev up [--aescbc]\n\nStarts a real etcd + kube-apiserver on loopback and keeps them until Ctrl-C."
            );
            Ok(())
        }
        other => bail!("unknown command {other:?} (try `secretkms-dev help`)"),
    }
}

async fn up(flags: &[String]) -> anyhow::Result<()> {
    let mut options = Options {
        keep_dir: true,
        ..Default::default()
    };
    for flag in flags {
        match flag.as_str() {
            "--aescbc" => {
                options.encryption = Encryption::AesCbc {
                    key_name: "key1".into(),
                }
            }
            other => bail!("unknown flag {other:?} for `up`"),
        }
    }
    let cp = ControlPlane::start(options)
        .await
        .context("starting the control plane")?;
    println!("apiserver: {}", cp.server);
    println!("etcd: {}", cp.etcd_endpoint());
    println!("kubeconfig: {}", cp.kubeconfig.display());
    println!("ready in: {:.1}s", cp.ready_in.as_secs_f64());
    println!("try: export KUBECONFIG={}", cp.kubeconfig.display());
    println!("Ctrl-C stops everything.");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    drop(cp);
    Ok(())
}
