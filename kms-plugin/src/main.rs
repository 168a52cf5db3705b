//! `secretkms-kms-plugin`: the KMS v2 plugin binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    secretkms_kms_plugin::main()
}
