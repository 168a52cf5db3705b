//! Who can reach the plugin's socket, proved with a second process that runs as uid and gid
//! 65534 (nobody) and calls Status: a socket file is 0600, so nobody cannot open it even when
//! its uid is allowed; `--socket-group` opens the file to a group and the peer uid check still
//! cuts off a uid not in `--allowed-uid`; an abstract socket is refused at start without
//! `--allow-abstract-socket`, and with it only the uid check guards it. Running a process as
//! another uid needs root, which these tests run as.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

const NOBODY: u32 = 65534;
/// Tells [`peer_call_helper`] where to call.
const PEER_SOCKET_VAR: &str = "SECRETKMS_TEST_PEER_SOCKET";
/// What the plugin logs when it cuts a connection off.
const REFUSED: &str = "refused a connection from a uid not in --allowed-uid";

/// Not a test: what [`call_as_nobody`] runs in a second copy of this test binary, as uid 65534.
/// Prints one `PEER-CALL` line with the outcome.
#[tokio::test]
#[ignore = "a helper that call_as_nobody runs as uid 65534; does nothing on its own"]
async fn peer_call_helper() {
    let Ok(socket) = std::env::var(PEER_SOCKET_VAR) else {
        return;
    };
    let address = SocketAddress::parse(&socket).unwrap();
    let call = async {
        let mut c = client::connect(&address)
            .await
            .map_err(|e| format!("connect: {e:?}"))?;
        client::status(&mut c)
            .await
            .map_err(|e| format!("status: {e:?}"))
    };
    match tokio::time::timeout(PATIENCE, call).await {
        Ok(Ok(status)) => println!("PEER-CALL ok {}", status.healthz),
        Ok(Err(e)) => println!("PEER-CALL failed {e}"),
        Err(_) => println!("PEER-CALL failed: no answer within {PATIENCE:?}"),
    }
}

/// A copy of this test binary that uid 65534 can execute: the build directory may sit under a
/// home directory only root can traverse (`/root/.cache/...`).
fn exe_for_nobody() -> &'static std::path::Path {
    static COPY: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, path) = COPY.get_or_init(|| {
        let dir = traversable_dir();
        let path = dir.path().join("peer-call-helper");
        std::fs::copy(std::env::current_exe().unwrap(), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    });
    path
}

/// Calls Status on `address` from a process running as uid and gid 65534: its healthz, or why
/// the call failed.
async fn call_as_nobody(address: &SocketAddress) -> Result<String, String> {
    assert!(
        rustix::process::geteuid().is_root(),
        "running the second process as uid {NOBODY} needs root"
    );
    let output = tokio::process::Command::new(exe_for_nobody())
        .args([
            "--exact",
            "socket_access::peer_call_helper",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PEER_SOCKET_VAR, address.to_string())
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        // libtest prints the test's name on the same line.
        .find_map(|l| l.split_once("PEER-CALL ").map(|(_, outcome)| outcome))
        .unwrap_or_else(|| {
            panic!(
                "the helper printed no outcome ({:?}): {stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    match line.strip_prefix("ok ") {
        Some(healthz) => Ok(healthz.to_string()),
        None => Err(line.to_string()),
    }
}

/// A directory anyone may traverse (tempdir makes 0700), so only the socket file's own mode
/// decides who can open it.
fn traversable_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// An abstract socket name no other test uses.
fn abstract_address() -> SocketAddress {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    SocketAddress::Abstract(format!(
        "secretkms-plugin-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// The plugin's log without the colours tracing adds.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            chars.by_ref().find(|c| *c == 'm');
        } else {
            out.push(c);
        }
    }
    out
}

fn mode_owner_group(path: &std::path::Path) -> (u32, u32, u32) {
    let meta = std::fs::metadata(path).unwrap();
    (meta.mode() & 0o7777, meta.uid(), meta.gid())
}

#[tokio::test]
async fn a_socket_file_is_0600_so_another_uid_cannot_open_it_even_when_allowed() {
    let kms = kms().await;
    let dir = traversable_dir();
    let path = dir.path().join("kms.sock");
    let address = SocketAddress::Path(path.clone());
    let mut plugin =
        Plugin::start_on(&kms, dir, address.clone(), &[("allowed-uid", "0,65534")]).await;
    assert_eq!(mode_owner_group(&path).0, 0o600);
    let err = call_as_nobody(&address).await.unwrap_err();
    assert!(err.contains("PermissionDenied"), "{err}");
    plugin.status().await; // the owner still can
    assert!(
        !plugin.log().contains(REFUSED),
        "the file mode stopped it first"
    );
}

#[tokio::test]
async fn a_socket_group_opens_the_file_to_its_members_and_the_uid_check_still_applies() {
    let kms = kms().await;
    let dir = traversable_dir();
    let path = dir.path().join("kms.sock");
    let address = SocketAddress::Path(path.clone());
    let mut plugin =
        Plugin::start_on(&kms, dir, address.clone(), &[("socket-group", "65534")]).await;
    assert_eq!(mode_owner_group(&path), (0o660, 0, NOBODY));
    // By default only root and the plugin's own uid may call.
    let err = call_as_nobody(&address).await.unwrap_err();
    assert!(
        !err.contains("PermissionDenied"),
        "the file let it in: {err}"
    );
    plugin.status().await;
    let log = plain(&plugin.stop().await);
    let refusal = log
        .lines()
        .find(|l| l.contains(REFUSED))
        .unwrap_or_else(|| panic!("no refusal logged: {log}"));
    assert!(
        refusal.contains("uid=65534") && refusal.contains("pid="),
        "{refusal}"
    );

    // The same caller, once its uid is allowed, is served: what cut it off was the check.
    let dir = traversable_dir();
    let address = SocketAddress::Path(dir.path().join("kms.sock"));
    let plugin = Plugin::start_on(
        &kms,
        dir,
        address.clone(),
        &[("socket-group", "65534"), ("allowed-uid", "0,65534")],
    )
    .await;
    call_as_nobody(&address).await.unwrap();
    assert!(!plugin.log().contains(REFUSED), "{}", plugin.log());
}

#[tokio::test]
async fn an_abstract_socket_is_refused_at_start_unless_allowed_and_then_only_allowed_uids_call() {
    let kms = kms().await;
    let address = abstract_address();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("refused.log");
    let mut child = plugin_command(&[
        format!("--listen={address}"),
        "--key-id=alias/k8s".into(),
        format!("--endpoint={}", kms.emulator.url),
    ])
    .stderr(std::fs::File::create(&log).unwrap())
    .spawn()
    .unwrap();
    let since = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if since.elapsed() > PATIENCE {
            let _ = child.kill();
            panic!("the plugin served on an abstract socket without the flag");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("refusing the abstract socket")
            && stderr.contains("--allow-abstract-socket"),
        "{stderr}"
    );
    assert!(address.connect().is_err(), "nothing listens");

    let mut plugin = Plugin::start_on(
        &kms,
        dir,
        address.clone(),
        &[("allow-abstract-socket", "true")],
    )
    .await;
    let err = call_as_nobody(&address).await.unwrap_err();
    assert!(!err.contains("PermissionDenied"), "{err}");
    plugin.status().await;
    let log = plain(&plugin.stop().await);
    assert!(log.contains("serving on an abstract socket"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains(REFUSED) && l.contains("uid=65534")),
        "{log}"
    );
}
