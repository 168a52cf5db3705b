//! The kubectl plugin, built inside this crate so its tests can put it on PATH as
//! `kubectl-secretkms` and run it through the real kubectl (`CARGO_BIN_EXE_*` only names a
//! package's own binaries). Same code as `kubectl-secretkms`.

fn main() -> std::process::ExitCode {
    kubectl_secretkms::main()
}
