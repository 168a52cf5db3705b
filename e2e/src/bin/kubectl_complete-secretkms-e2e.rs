//! The kubectl plugin's completion executable, built inside this crate so the krew test can
//! package it (`CARGO_BIN_EXE_*` only names a package's own binaries). Same code as
//! `kubectl_complete-secretkms`.

fn main() -> std::process::ExitCode {
    kubectl_secretkms::completion::kubectl_complete_main()
}
