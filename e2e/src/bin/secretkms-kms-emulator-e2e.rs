//! The KMS emulator binary, built inside this crate so its tests can run it as a real process
//! (`CARGO_BIN_EXE_*` only names a package's own binaries). Same code as `secretkms-kms-emulator`.

fn main() -> anyhow::Result<()> {
    secretkms_kms_emulator::cli::main()
}
