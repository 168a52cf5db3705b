//! `kubectl_complete-secretkms`: kubectl (1.26+) runs it to complete `kubectl secretkms ...`.

fn main() -> std::process::ExitCode {
    kubectl_secretkms::completion::kubectl_complete_main()
}
