//! `kubectl-secretkms`: the kubectl plugin binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    kubectl_secretkms::main()
}
