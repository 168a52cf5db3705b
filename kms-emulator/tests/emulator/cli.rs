//! The `secretkms-kms-emulator` binary: prints its address first, seeds keys, keeps them in the
//! data file across restarts, and refuses non-loopback addresses.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use secretkms_alibaba::kms::SignatureMethod;

use super::*;

/// A running emulator process, killed on drop.
pub struct Process {
    pub child: Child,
    pub url: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary and reads the bound URL from its first stdout line.
pub fn spawn(args: &[&str]) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_secretkms-kms-emulator"))
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "first line is the address: {url:?}"
    );
    Process { child, url }
}

fn running(process: &Process) -> Running {
    // Only `url` is used by the helpers; a detached handle stands in for the in-process fields.
    let addr = process.url.trim_start_matches("http://").parse().unwrap();
    let config = EmulatorConfig::default();
    Running {
        addr,
        url: process.url.clone(),
        emulator: secretkms_kms_emulator::Emulator::new(&config).unwrap(),
        task: tokio::spawn(async { Ok(()) }),
    }
}

#[tokio::test]
async fn binary_persists_keys_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("kms.json");
    let data_arg = data.display().to_string();
    let args = [
        "--data-file",
        data_arg.as_str(),
        "--seed-key",
        "alias=k8s,spec=Aliyun_AES_256",
        "--seed-key",
        "alias=weak,spec=Aliyun_AES_128,state=Disabled",
    ];
    let first = spawn(&args);
    let kms = client(&running(&first), SignatureMethod::Acs3HmacSha256);
    let encrypted = kms
        .encrypt("alias/k8s", b"survives restarts", None)
        .await
        .unwrap();
    let weak = metadata(&kms, "alias/weak").await;
    assert_eq!(
        (weak.key_spec.as_str(), weak.key_state.as_str()),
        ("Aliyun_AES_128", "Disabled")
    );
    drop(first);

    let second = spawn(&args);
    let kms = client(&running(&second), SignatureMethod::RpcHmacSha1);
    let decrypted = kms.decrypt(&encrypted.ciphertext_blob, None).await.unwrap();
    assert_eq!(decrypted.plaintext.0, b"survives restarts");
    assert_eq!(
        kms.list_aliases(1, 10).await.unwrap().total_count,
        2,
        "seeding does not duplicate keys"
    );
}

#[test]
fn binary_refuses_non_loopback_addresses() {
    let output = Command::new(env!("CARGO_BIN_EXE_secretkms-kms-emulator"))
        .args(["--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("loopback"));
}
