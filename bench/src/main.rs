//! `secretkms-loadgen`: drives `secretkms-webhook` over TLS on loopback for hack/bench.sh —
//! closed-loop or open-loop AdmissionReview load, and start-to-ready timing.

mod args;
mod client;
mod cpu;
mod load;
mod report;
mod review;
mod startup;

fn main() -> std::process::ExitCode {
    use clap::Parser;
    match args::Cli::parse().run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secretkms-loadgen: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}
