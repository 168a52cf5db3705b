//! Completion for kubectl's plugin protocol (kubectl 1.26+): kubectl runs
//! `kubectl_complete-secretkms <words typed so far...> <partial word>` and reads one candidate per
//! line, then an optional `:<directive>` (a Cobra ShellCompDirective). Candidates come from the
//! same clap definition as the parser, so they never drift.

use std::process::ExitCode;

use clap::CommandFactory;

use crate::Cli;

/// Cobra's ShellCompDirectiveNoFileComp: do not fall back to file names.
const NO_FILE_COMP: u8 = 4;
/// Cobra's ShellCompDirectiveDefault: the shell may complete file names.
const DEFAULT: u8 = 0;

/// Entry point of the `kubectl_complete-secretkms` executable.
pub fn kubectl_complete_main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (candidates, directive) = candidates(&args);
    for c in candidates {
        println!("{c}");
    }
    println!(":{directive}");
    ExitCode::SUCCESS
}

/// The candidates for the last word of `args` (kubectl passes an empty last word for a new one)
/// and the Cobra directive to print after them.
pub fn candidates(args: &[String]) -> (Vec<String>, u8) {
    let (partial, done) = match args.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let root = Cli::command();
    let mut cmd = &root;
    let mut previous: Option<&str> = None;
    for word in done {
        if let Some(sub) = cmd.find_subcommand(word) {
            cmd = sub;
        }
        previous = Some(word.as_str());
    }
    // The value of a flag that takes one: its possible values, or files.
    if let Some(flag) = previous.and_then(|p| find_arg(&root, cmd, p))
        && flag.get_action().takes_values()
    {
        let values: Vec<String> = flag
            .get_possible_values()
            .iter()
            .map(|v| v.get_name().to_string())
            .filter(|v| v.starts_with(partial))
            .collect();
        return if values.is_empty() {
            (values, DEFAULT)
        } else {
            (values, NO_FILE_COMP)
        };
    }
    let mut out = Vec::new();
    if partial.starts_with('-') {
        for arg in cmd.get_arguments().chain(root.get_arguments()) {
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                if flag.starts_with(partial) && !out.contains(&flag) {
                    out.push(flag);
                }
            }
        }
        return (out, NO_FILE_COMP);
    }
    for sub in cmd.get_subcommands() {
        if sub.get_name().starts_with(partial) && sub.get_name() != "help" {
            out.push(sub.get_name().to_string());
        }
    }
    if out.is_empty() && cmd.get_positionals().next().is_some() {
        // A positional (a folder, a key id): let the shell complete files.
        return (out, DEFAULT);
    }
    (out, NO_FILE_COMP)
}

fn find_arg<'a>(
    root: &'a clap::Command,
    cmd: &'a clap::Command,
    word: &str,
) -> Option<&'a clap::Arg> {
    let matches = |a: &&clap::Arg| {
        word.strip_prefix("--")
            .is_some_and(|l| a.get_long() == Some(l))
            || (word.len() == 2 && word.starts_with('-') && a.get_short() == word.chars().nth(1))
    };
    cmd.get_arguments()
        .find(matches)
        .or_else(|| root.get_arguments().find(matches))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(words: &[&str]) -> (Vec<String>, u8) {
        candidates(&words.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn sub_commands_complete_from_the_parser() {
        let (c, d) = complete(&[""]);
        assert_eq!(
            c,
            [
                "status",
                "rewrite",
                "key",
                "enable",
                "disable",
                "verify",
                "policy",
                "completion"
            ]
        );
        assert_eq!(d, NO_FILE_COMP);
        assert_eq!(complete(&["re"]).0, ["rewrite"]);
        assert_eq!(complete(&["policy", "t"]).0, ["test"]);
    }

    #[test]
    fn flags_and_their_values_complete() {
        let (c, _) = complete(&["rewrite", "--conc"]);
        assert_eq!(c, ["--concurrency"]);
        let (c, _) = complete(&["rewrite", "--all"]);
        assert_eq!(
            c,
            ["--all-namespaces"],
            "global kubectl flags are offered too"
        );
        let (c, d) = complete(&["status", "-o", ""]);
        assert_eq!(c, ["table", "json", "yaml"]);
        assert_eq!(d, NO_FILE_COMP);
        let (_, d) = complete(&["policy", "test", ""]);
        assert_eq!(d, DEFAULT, "a folder argument completes files");
    }
}
