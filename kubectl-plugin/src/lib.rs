//! `kubectl secretkms`: the operator's side of secretkms. `status` answers "is my Secret
//! encryption healthy?", `rewrite` re-encrypts every Secret after a key rotation, `key check`
//! lists the ACK prerequisites of a key and `key protect` guards it against deletion, `enable`,
//! `disable` and `verify` run ACK's documented Secret-encryption flows, and `policy run|test`
//! evaluate policies offline with the webhook's own runtime.
//!
//! Exit codes (stable, see [`Exit`]): 0 ok, 1 findings or failed checks, 2 errors (bad usage,
//! unreachable cluster, ...).

pub mod causes;
pub mod checklist;
pub mod cli;
pub mod cloud_access;
pub mod cluster_update;
pub mod cluster_wait;
pub mod completion;
pub mod disable;
pub mod enable;
pub mod exit;
pub mod guard;
pub mod key_check;
pub mod key_protect;
pub mod kms_access;
pub mod kms_price;
pub mod kube_args;
pub mod object_count;
pub mod output;
pub mod policy_cmd;
pub mod preflight;
pub mod rewrite;
pub mod rotation_evidence;
pub mod rotation_time;
pub mod status;
pub mod verify;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

pub use cli::{Cli, Command};
pub use exit::Exit;

/// Parses the command line, runs the command, prints any error once and maps the result to the
/// documented exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&cli::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Error.into();
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(exit) => exit.into(),
        Err(e) => {
            // Our errors carry each cause once; `once` also folds any foreign error that
            // repeats its source in its message.
            eprintln!("error: {}", causes::once(e.as_ref()));
            Exit::Error.into()
        }
    }
}

/// Runs one parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    secretkms_alibaba::install_crypto_provider();
    let Cli { global, command } = cli;
    match command {
        Command::Status(args) => status::run(&global, args).await,
        Command::Rewrite(args) => rewrite::run(&global, args).await,
        Command::Key(cli::KeyCommand::Check(args)) => key_check::run(&global, args).await,
        Command::Key(cli::KeyCommand::Protect(args)) => key_protect::run(&global, args).await,
        Command::Enable(args) => enable::run(&global, args).await,
        Command::Disable(args) => disable::run(&global, args).await,
        Command::Verify(args) => verify::run(&global, args).await,
        Command::Policy(cli::PolicyCommand::Run(args)) => policy_cmd::run(&global, args),
        Command::Policy(cli::PolicyCommand::Test(args)) => policy_cmd::test(&global, args),
        Command::Completion { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "kubectl-secretkms",
                &mut std::io::stdout(),
            );
            Ok(Exit::Ok)
        }
    }
}
