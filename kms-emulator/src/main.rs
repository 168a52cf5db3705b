//! `secretkms-kms-emulator`: runs the KMS emulator (see the library's `cli` module).

fn main() -> anyhow::Result<()> {
    secretkms_kms_emulator::cli::main()
}
