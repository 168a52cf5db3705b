//! `kubectl secretkms status`: one screen that answers "is my Secret encryption healthy?" Each
//! part is gathered independently and reports its own error, so one unreachable source (say,
//! KMS without credentials) never hides the others. Gathering, the findings and the screen each
//! have their module; the judgement on the state is `secretkms_core::judgement`, the same the
//! webhook writes into the SecretEncryption's conditions.

mod envelope;
mod etcd_reader;
mod findings;
mod gather;
mod render;
mod report;
mod webhook_health;

use clap::Args;

pub use envelope::{Envelope, classify, encrypted_object_key_id};
pub use etcd_reader::{EnvelopeCount, EtcdArgs, EtcdCounts};
pub use findings::findings;
pub use render::{new_secret_encryption, render};
pub use report::{Part, PolicyPreview, RewriteProgress, StatusReport};
pub use webhook_health::WebhookHealth;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::kms_access::KmsArgs;
use crate::output::Level;
use crate::rotation_evidence::ApiserverArgs;

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms status
  kubectl secretkms status -o json
  kubectl secretkms status --etcd-endpoints https://10.0.0.1:2379 --etcd-cacert ca.crt \\
      --etcd-cert client.crt --etcd-key client.key")]
pub struct StatusArgs {
    /// The key to describe (default: the SecretEncryption's).
    #[arg(long)]
    pub key: Option<String>,
    /// The key's region (default: the SecretEncryption's, or the key's ARN).
    #[arg(long)]
    pub region: Option<String>,
    /// The rotation time to measure rewrite progress against (default: the key's last rotation).
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// Inspect this webhook (or ValidatingWebhookConfiguration) instead of every `*.secretkms.io`.
    #[arg(long, value_name = "NAME")]
    pub webhook: Option<String>,
    #[command(flatten)]
    pub kms: KmsArgs,
    #[command(flatten)]
    pub etcd: EtcdArgs,
    #[command(flatten)]
    pub apiservers: ApiserverArgs,
    /// The key_id the KMS v2 plugin reports now (default: `<CMK id>/<primary version>` from
    /// KMS), to tell whether every apiserver adopted it.
    #[arg(long, value_name = "KEY_ID")]
    pub expect_key_id: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<Exit> {
    let (client, namespace) = global.kube.client(true).await?;
    let (mut report, state) = gather::gather(&client, &global.kube, &namespace, args).await;
    report.findings = findings(&state, &report);
    report.healthy = !report.findings.iter().any(|f| f.level == Level::Fail);
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report, global.output.style()));
    }
    Ok(Exit::findings_if(!report.healthy))
}
