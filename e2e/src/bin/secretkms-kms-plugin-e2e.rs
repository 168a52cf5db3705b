//! The KMS v2 plugin binary, built inside this crate so its tests can run it as a real process
//! (`CARGO_BIN_EXE_*` only names a package's own binaries). Same code as `secretkms-kms-plugin`.

fn main() -> std::process::ExitCode {
    secretkms_kms_plugin::main()
}
