//! Command-line flags, each also readable from a `SECRETKMS_*` environment variable (the Helm
//! chart sets environment variables). Every default lives here, once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use secretkms_alibaba::duration;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "secretkms-webhook",
    version,
    about = "Validating admission webhook that denies Secret writes while KMS encryption is misconfigured"
)]
pub struct Args {
    /// Address of the HTTPS admission server.
    #[arg(long, env = "SECRETKMS_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP metrics and health server; "off" disables it.
    // Spelled `std::option::Option` so clap takes the parser's `Option` as the value itself
    // instead of making the flag optional.
    #[arg(long, env = "SECRETKMS_METRICS_LISTEN", default_value = "0.0.0.0:9090", value_parser = parse_optional_addr)]
    pub metrics_listen: std::option::Option<SocketAddr>,

    /// Serving certificate (PEM; the full chain, leaf first).
    #[arg(long, env = "SECRETKMS_TLS_CERT_FILE")]
    pub tls_cert_file: PathBuf,

    /// Private key of the serving certificate (PEM).
    #[arg(long, env = "SECRETKMS_TLS_KEY_FILE")]
    pub tls_key_file: PathBuf,

    /// CA bundle (PEM) that client certificates must chain to; when set, clients (the
    /// apiserver) must present a certificate.
    #[arg(long, env = "SECRETKMS_CLIENT_CA_FILE")]
    pub client_ca_file: Option<PathBuf>,

    /// How often the certificate and key files are checked for changes. Polling with a hash,
    /// because Secret volumes swap a symlink and file events are easily missed.
    #[arg(long, env = "SECRETKMS_CERT_RELOAD_INTERVAL", default_value = "10s", value_parser = duration::parse)]
    pub cert_reload_interval: Duration,

    /// Policy configuration (YAML). Without it the embedded default policies run.
    #[arg(long, env = "SECRETKMS_POLICY_CONFIG")]
    pub policy_config: Option<PathBuf>,

    /// Where precompiled policies are cached; "off" compiles in memory at every start.
    #[arg(long, env = "SECRETKMS_POLICY_CACHE_DIR")]
    pub policy_cache_dir: Option<String>,

    /// A state file (JSON or YAML, the EncryptionState format) whose facts override the live
    /// sources; re-read when it changes. For demos and tests.
    #[arg(long, env = "SECRETKMS_STATE_FILE")]
    pub state_file: Option<PathBuf>,

    /// Weakenings of the guard to accept at start, comma-separated: `state-file` (a state file
    /// overrides the live sources), `unguarded-secret-writes` (the policy configuration has no
    /// enforcing builtin:secret-write-guard: absent, in audit mode, or no policies at all). Without it, either is refused. An accepted one
    /// shows in /readyz, the metric secretkms_guard_weakened and `kubectl secretkms status`.
    #[arg(
        long,
        env = "SECRETKMS_ALLOW_WEAKENING",
        value_enum,
        value_delimiter = ','
    )]
    pub allow_weakening: Vec<crate::weakening::WeakeningKind>,

    /// How often the state file is checked for changes.
    #[arg(long, env = "SECRETKMS_STATE_FILE_INTERVAL", default_value = "2s", value_parser = duration::parse)]
    pub state_file_interval: Duration,

    /// Probe the apiserver's KMS health (`/readyz?verbose`, then each KMS check by name).
    #[arg(long, env = "SECRETKMS_APISERVER_PROBE", default_value_t = true, action = clap::ArgAction::Set)]
    pub apiserver_probe: bool,

    /// How often the apiserver's KMS health is probed.
    #[arg(long, env = "SECRETKMS_APISERVER_PROBE_INTERVAL", default_value = "15s", value_parser = duration::parse)]
    pub apiserver_probe_interval: Duration,

    /// With the probe, also read the apiserver's `/metrics` for the provider that writes
    /// Secrets (plaintext when `identity` is first).
    #[arg(long, env = "SECRETKMS_SECRET_WRITERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub secret_writers: bool,

    /// A Secret (`<namespace>/<name>`, in a namespace the webhook does not guard) whose
    /// annotation is written before each metrics reading, so the reading shows the current
    /// writer on an idle cluster. The chart creates it.
    #[arg(long, env = "SECRETKMS_CANARY_SECRET")]
    pub canary_secret: Option<crate::sources::canary::Canary>,

    /// kubeconfig for reaching the apiserver; in a pod the in-cluster configuration is used.
    #[arg(long, env = "SECRETKMS_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Watch the SecretEncryption object named `cluster` for the declared settings.
    #[arg(long, env = "SECRETKMS_WATCH_SECRET_ENCRYPTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub watch_secret_encryption: bool,

    /// KMS endpoint for every key, overriding the SecretEncryption's region and endpoint:
    /// `public:<region>`, `vpc:<region>` or a URL (the local emulator).
    #[arg(long, env = "SECRETKMS_KMS_ENDPOINT", value_parser = secretkms_alibaba::kms::Endpoint::parse)]
    pub kms_endpoint: Option<secretkms_alibaba::kms::Endpoint>,

    /// Reach KMS through its VPC endpoint (`kms-vpc.<region>`), as pods inside Alibaba Cloud
    /// should; false uses the public endpoint.
    #[arg(long, env = "SECRETKMS_KMS_VPC", default_value_t = true, action = clap::ArgAction::Set)]
    pub kms_vpc: bool,

    /// How often the key's facts are read from KMS. DescribeKey has a per-account quota (about
    /// 20/s) shared by every replica and every other user of the account.
    #[arg(long, env = "SECRETKMS_KMS_POLL_INTERVAL", default_value = "30s", value_parser = duration::parse)]
    pub kms_poll_interval: Duration,

    /// Write the observed conditions to the SecretEncryption's status (and Events on changes).
    #[arg(long, env = "SECRETKMS_STATUS_WRITEBACK", default_value_t = true, action = clap::ArgAction::Set)]
    pub status_writeback: bool,

    /// How often the status is refreshed.
    #[arg(long, env = "SECRETKMS_STATUS_INTERVAL", default_value = "15s", value_parser = duration::parse)]
    pub status_interval: Duration,

    /// This replica's name in Events (the chart sets the pod name).
    #[arg(long, env = "SECRETKMS_POD_NAME", default_value = "secretkms-webhook")]
    pub pod_name: String,

    /// Policy evaluations that may run at once; more wait. Defaults to the number of CPUs; with
    /// a cgroup memory limit, lowered to what it holds (see the memory budget in the README).
    /// Reviews larger than 64 KiB may hold half of them (at least one), so large Secrets never
    /// hold every slot.
    #[arg(long, env = "SECRETKMS_MAX_CONCURRENT_EVALUATIONS")]
    pub max_concurrent_evaluations: Option<usize>,

    /// Largest admission request body accepted. A 1 MiB Secret UPDATE carries object and
    /// oldObject in base64, about 2.8 MB.
    #[arg(long, env = "SECRETKMS_MAX_BODY_BYTES", default_value_t = 8 << 20)]
    pub max_body_bytes: usize,

    /// Connections open at once on each port; a new one beyond it is closed at once (counted in
    /// secretkms_connections_refused_total). The apiserver keeps a few per webhook.
    #[arg(long, env = "SECRETKMS_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,

    /// Time a client has to send a request's headers, on both ports; it also closes
    /// keep-alive connections idle for longer.
    #[arg(long, env = "SECRETKMS_HEADER_READ_TIMEOUT", default_value = "30s", value_parser = duration::parse)]
    pub header_read_timeout: Duration,

    /// Deadline for a review when the apiserver sends no `?timeout=`.
    #[arg(long, env = "SECRETKMS_DEFAULT_TIMEOUT", default_value = "10s", value_parser = duration::parse)]
    pub default_timeout: Duration,

    /// How long in-flight requests may take to finish after SIGTERM.
    #[arg(long, env = "SECRETKMS_SHUTDOWN_GRACE", default_value = "20s", value_parser = duration::parse)]
    pub shutdown_grace: Duration,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `secretkms_webhook=debug`.
    #[arg(long, env = "SECRETKMS_LOG", default_value = "info")]
    pub log: String,

    /// Log format.
    #[arg(long, env = "SECRETKMS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_optional_addr(s: &str) -> Result<Option<SocketAddr>, String> {
    if s.eq_ignore_ascii_case("off") || s.is_empty() {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| format!("{s:?} is not an address: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_certificate_and_key_are_required() {
        let a = Args::try_parse_from([
            "secretkms-webhook",
            "--tls-cert-file",
            "c.pem",
            "--tls-key-file",
            "k.pem",
        ])
        .unwrap();
        assert_eq!(a.listen.port(), 8443);
        assert_eq!(a.max_body_bytes, 8 << 20);
        assert!(a.apiserver_probe);
        assert!(Args::try_parse_from(["secretkms-webhook"]).is_err());
    }

    #[test]
    fn metrics_can_be_switched_off() {
        let a = Args::try_parse_from([
            "secretkms-webhook",
            "--tls-cert-file",
            "c",
            "--tls-key-file",
            "k",
            "--metrics-listen",
            "off",
        ])
        .unwrap();
        assert_eq!(a.metrics_listen, None);
    }
}
