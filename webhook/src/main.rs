//! `secretkms-webhook`: the admission webhook binary; everything lives in the library.

fn main() -> std::process::ExitCode {
    secretkms_webhook::main()
}
