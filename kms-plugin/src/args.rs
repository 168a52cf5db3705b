//! Command-line flags; each also readable from a `SECRETKMS_*` environment variable, named as
//! the webhook names the same setting so one Helm values block can feed both.

use std::path::PathBuf;
use std::time::Duration;

use secretkms_alibaba::duration;
use secretkms_alibaba::kms::{Endpoint, EndpointError, KeyLocation};

use crate::peer::AllowedUids;
use crate::server::Listen;
use crate::socket::{Exposure, SocketAddress};

/// A Kubernetes KMS v2 plugin backed by Alibaba Cloud KMS.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "secretkms-kms-plugin", version)]
pub struct Args {
    /// Unix socket to serve on: `unix:///path/to/kms.sock`, a plain path, or `unix:///@name`
    /// for a Linux abstract socket (only with `--allow-abstract-socket`). Must match the
    /// EncryptionConfiguration's `endpoint`. A socket file is made 0600 (see `--socket-group`).
    #[arg(long, env = "SECRETKMS_LISTEN", default_value = "unix:///var/run/secretkms/kms.sock", value_parser = SocketAddress::parse)]
    pub listen: SocketAddress,

    /// Numeric gid that may also open the socket file, which is then 0660 with that group
    /// instead of 0600. The connecting process's uid must still be in `--allowed-uid`.
    #[arg(long, env = "SECRETKMS_SOCKET_GROUP")]
    pub socket_group: Option<u32>,

    /// Serve on an abstract socket (`unix:///@name`) although it has no file permissions: any
    /// process in the network namespace can connect, and only `--allowed-uid` keeps others
    /// out. KMS v1 needs one (README, "KMS v1 needs an abstract socket").
    #[arg(long, env = "SECRETKMS_ALLOW_ABSTRACT_SOCKET", num_args = 0..=1, default_value_t = false, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub allow_abstract_socket: bool,

    /// A uid whose processes may call the plugin, checked on every connection (SO_PEERCRED);
    /// repeat the flag, or separate by commas in the variable. Default: 0 (what kube-apiserver
    /// runs as on kubeadm and ACK control planes) and the plugin's own uid. Name the
    /// apiserver's uid when it runs as another user.
    #[arg(
        long = "allowed-uid",
        env = "SECRETKMS_ALLOWED_UIDS",
        value_delimiter = ','
    )]
    pub allowed_uids: Vec<u32>,

    /// The CMK: a key id, `alias/<name>` or an ARN `acs:kms:<region>:<account>:key/<id>`. An
    /// alias is resolved once at start; the plugin then stays on that key.
    #[arg(long, env = "SECRETKMS_KEY_ID")]
    pub key_id: String,

    /// Region of the key, e.g. `cn-hangzhou`. Taken from an ARN key id when not given.
    #[arg(long, env = "SECRETKMS_REGION")]
    pub region: Option<String>,

    /// KMS endpoint: `public:<region>`, `vpc:<region>` or a URL (a KMS instance gateway or
    /// the local emulator). Default: the region's VPC or public endpoint, per `--vpc`.
    #[arg(long, env = "SECRETKMS_KMS_ENDPOINT", value_parser = Endpoint::parse)]
    pub endpoint: Option<Endpoint>,

    /// Use the region's VPC endpoint (`kms-vpc.<region>`), as nodes inside Alibaba Cloud should;
    /// false uses the public endpoint. Ignored with `--endpoint`.
    #[arg(long, env = "SECRETKMS_KMS_VPC", default_value_t = true, action = clap::ArgAction::Set)]
    pub vpc: bool,

    /// How often DescribeKey is polled for the key's state and primary version (sooner, at
    /// most every 10 s, while unhealthy). DescribeKey has a per-account quota of about 20/s.
    #[arg(long, env = "SECRETKMS_KMS_POLL_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub poll_interval: Duration,

    /// Timeout of one KMS request attempt. Keep the total below the EncryptionConfiguration's
    /// `timeout` (3 s by default); the apiserver's own deadline also cancels a call.
    #[arg(long, env = "SECRETKMS_KMS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub kms_timeout: Duration,

    /// PEM CA bundle replacing the public roots, for a custom https endpoint.
    #[arg(long, env = "SECRETKMS_KMS_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `secretkms_kms_plugin=debug`.
    #[arg(long, env = "SECRETKMS_LOG", default_value = "info")]
    pub log: String,

    /// How the key_id is formed: `per-version` (`<CMK id>/<version id>`, a new key_id on every
    /// rotation, so the apiserver re-seeds) or `constant` (the CMK id, as Alibaba's
    /// ack-kms-plugin: the version travels only in the
    /// `x-acs-kms-key-version-id.ack.alibabacloud.com` annotation and the apiserver keeps its
    /// seed across rotations).
    #[arg(long, env = "SECRETKMS_KEY_ID_MODE", value_enum, default_value_t = crate::key_id_mode::KeyIdMode::PerVersion)]
    pub key_id_mode: crate::key_id_mode::KeyIdMode,

    /// How long transient KMS failures (throttling, timeouts, 5xx) of DescribeKey and of the
    /// Encrypt/Decrypt self-test leave healthz `ok` on the last good answers; at least three
    /// poll intervals. A key KMS reports Disabled or PendingDeletion, or a refusal by key
    /// state or access, turns healthz not ok at once.
    #[arg(long, env = "SECRETKMS_KMS_FAILURE_GRACE", default_value = "2m", value_parser = parse_duration)]
    pub failure_grace: Duration,
}

/// Parses a positive duration (`30s`, `1m`, `500ms`, ...): a zero interval or timeout would
/// spin or fail every call.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = duration::parse(text)?;
    if d.is_zero() {
        return Err(format!("invalid duration {text:?}: must be more than zero"));
    }
    Ok(d)
}

impl Args {
    /// The socket, its exposure and its allowed peers, from the four socket flags.
    pub fn listen(&self) -> Listen {
        Listen {
            address: self.listen.clone(),
            exposure: Exposure {
                group: self.socket_group,
                allow_abstract: self.allow_abstract_socket,
            },
            allowed_uids: AllowedUids::new(self.allowed_uids.iter().copied()),
        }
    }

    /// The endpoint to use: `--endpoint`, else the region's (from `--region` or the ARN).
    pub fn kms_endpoint(&self) -> Result<Endpoint, String> {
        secretkms_alibaba::kms::resolve(&KeyLocation {
            key: &self.key_id,
            endpoint: self.endpoint.as_ref(),
            declared_endpoint: None,
            region: self.region.as_deref(),
            vpc: self.vpc,
        })
        .map_err(|e| match e {
            EndpointError::RegionConflict {
                region,
                arn_region,
                key,
            } => {
                format!("--region {region} contradicts the key ARN's region {arn_region} in {key}")
            }
            EndpointError::NoRegion { key } => {
                format!("no region for key {key}: pass --region, an ARN key id, or --endpoint")
            }
            EndpointError::Invalid(detail) => detail,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from([&["secretkms-kms-plugin"], args].concat()).unwrap()
    }

    #[test]
    fn region_gives_the_vpc_endpoint_by_default() {
        let a = parse(&["--key-id", "alias/k8s", "--region", "cn-beijing"]);
        assert_eq!(
            a.kms_endpoint().unwrap().url().unwrap().as_str(),
            "https://kms-vpc.cn-beijing.aliyuncs.com/"
        );
        let a = parse(&["--key-id", "k", "--region", "cn-beijing", "--vpc", "false"]);
        assert_eq!(
            a.kms_endpoint().unwrap(),
            Endpoint::Public {
                region: "cn-beijing".into()
            }
        );
    }

    #[test]
    fn an_arn_supplies_the_region_and_must_agree_with_region() {
        let arn = "acs:kms:cn-shanghai:123:key/key-abc";
        let a = parse(&["--key-id", arn]);
        assert_eq!(
            a.kms_endpoint().unwrap(),
            Endpoint::Vpc {
                region: "cn-shanghai".into()
            }
        );
        let err = parse(&["--key-id", arn, "--region", "cn-beijing"])
            .kms_endpoint()
            .unwrap_err();
        assert!(
            err.contains("cn-beijing") && err.contains("cn-shanghai"),
            "{err}"
        );
    }

    #[test]
    fn a_custom_endpoint_needs_no_region_and_no_region_is_an_error() {
        let a = parse(&["--key-id", "k", "--endpoint", "http://127.0.0.1:9999"]);
        assert_eq!(
            a.kms_endpoint().unwrap().url().unwrap().as_str(),
            "http://127.0.0.1:9999/"
        );
        let err = parse(&["--key-id", "alias/x"]).kms_endpoint().unwrap_err();
        assert!(err.contains("alias/x"), "{err}");
    }

    #[test]
    fn durations_and_sockets_are_validated() {
        let a = parse(&[
            "--key-id",
            "k",
            "--poll-interval",
            "1s",
            "--listen",
            "unix:///tmp/p.sock",
        ]);
        assert_eq!(a.poll_interval, Duration::from_secs(1));
        assert_eq!(a.listen.to_string(), "unix:///tmp/p.sock");
        assert!(Args::try_parse_from(["p", "--key-id", "k", "--poll-interval", "0s"]).is_err());
        assert!(
            Args::try_parse_from(["p", "--key-id", "k", "--listen", "tcp://1.2.3.4:1"]).is_err()
        );
    }

    #[test]
    fn socket_flags_default_to_a_private_file_for_root_and_ourselves() {
        let listen = parse(&["--key-id", "k"]).listen();
        assert_eq!(listen.exposure, Exposure::default());
        assert_eq!(listen.exposure.mode(), 0o600);
        assert_eq!(listen.allowed_uids, AllowedUids::default_for_self());
        assert!(listen.allowed_uids.contains(0));
    }

    #[test]
    fn socket_flags_set_group_abstract_and_uids() {
        let listen = parse(&[
            "--key-id",
            "k",
            "--listen",
            "unix:///@kms",
            "--socket-group",
            "997",
            "--allow-abstract-socket",
            "--allowed-uid",
            "1000",
            "--allowed-uid=2000,3000",
        ])
        .listen();
        assert_eq!(
            listen.exposure,
            Exposure {
                group: Some(997),
                allow_abstract: true
            }
        );
        assert_eq!(listen.exposure.mode(), 0o660);
        assert_eq!(listen.allowed_uids, AllowedUids::new([1000, 2000, 3000]));
        assert!(
            !listen.allowed_uids.contains(0),
            "an explicit list replaces the default"
        );
        let listen = parse(&["--key-id", "k", "--allow-abstract-socket=false"]).listen();
        assert!(!listen.exposure.allow_abstract);
        for bad in [
            ["--allowed-uid", "-1"],
            ["--allowed-uid", "root"],
            ["--socket-group", "wheel"],
        ] {
            assert!(
                Args::try_parse_from([&["p", "--key-id", "k"][..], &bad[..]].concat()).is_err(),
                "{bad:?}"
            );
        }
    }
}
