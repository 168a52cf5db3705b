//! The command line: kubectl's flag spellings for everything kubectl users already know
//! (`--kubeconfig`, `--context`, `-n`, `-A`, `-l`, `-o`, `--request-timeout`), global so they
//! may follow the sub-command as they do in kubectl.

use clap::{Args, CommandFactory, Parser, Subcommand};

use crate::kube_args::KubeArgs;
use crate::output::OutputArgs;

const EXIT_CODES: &str = "\
Exit codes:
  0  ok: nothing wrong found
  1  findings: a failed check, a failed policy case, Secrets not rewritten, unhealthy status
  2  error: bad usage, unreadable input, unreachable cluster or KMS";

/// Status, rotation rewrite, key checks and policy testing for Secrets encrypted at rest with
/// Alibaba Cloud KMS.
#[derive(Debug, Parser)]
#[command(name = "kubectl-secretkms", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    #[command(flatten)]
    pub kube: KubeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One screen that answers "is my Secret encryption healthy?"
    Status(crate::status::StatusArgs),
    /// Re-encrypt every Secret after a key rotation (annotation patches, metadata only).
    Rewrite(crate::rewrite::RewriteArgs),
    /// Check a KMS key against the ACK prerequisites, or protect it from deletion.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Turn on an ACK cluster's Secret encryption with a KMS key: preflight, change, verify.
    Enable(crate::enable::EnableArgs),
    /// Turn off an ACK cluster's Secret encryption: preflight, guard to audit, change, verify.
    Disable(crate::disable::DisableArgs),
    /// Check that Secret encryption works: KMS health, a canary, ActionTrail's KMS calls.
    Verify(crate::verify::VerifyArgs),
    /// Evaluate policies offline with the webhook's runtime.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Print a shell completion script (for kubectl itself, install `kubectl_complete-secretkms`).
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Every ACK prerequisite of KEY (id, alias or ARN) as pass / warn / fail, with the fix.
    Check(crate::key_check::KeyCheckArgs),
    /// Turn on KEY's deletion protection and print a RAM policy denying its disabling and
    /// deletion to all but a break-glass role.
    Protect(crate::key_protect::KeyProtectArgs),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Evaluate one request against a policy and print the verdict.
    Run(crate::policy_cmd::RunArgs),
    /// Run every case folder under DIR and report pass / fail.
    Test(crate::policy_cmd::TestArgs),
}

/// The clap command, with usage shown as `kubectl secretkms` when run as a kubectl plugin
/// (argv[0] named `kubectl-*`, which is how kubectl executes it).
pub fn command() -> clap::Command {
    let cmd = Cli::command();
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base.starts_with("kubectl-") {
        cmd.bin_name("kubectl secretkms")
    } else {
        cmd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn kube_flags_follow_the_sub_command_as_in_kubectl() {
        let cli = Cli::try_parse_from([
            "kubectl-secretkms",
            "rewrite",
            "-A",
            "-l",
            "app=db",
            "--context",
            "prod",
            "-o",
            "json",
            "--request-timeout",
            "30s",
        ])
        .unwrap();
        assert!(cli.global.kube.all_namespaces);
        assert_eq!(cli.global.kube.selector.as_deref(), Some("app=db"));
        assert_eq!(cli.global.kube.context.as_deref(), Some("prod"));
        assert_eq!(cli.global.output.output, crate::output::Format::Json);
        assert_eq!(
            cli.global.kube.request_timeout,
            Some(std::time::Duration::from_secs(30))
        );
    }
}
