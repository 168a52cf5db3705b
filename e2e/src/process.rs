//! Child processes that cannot outlive the harness.
//!
//! Tests keep one control plane in a process-wide static, and Rust never drops statics, so a
//! `Drop` impl alone would leave etcd and kube-apiserver running after every test binary. Each
//! child therefore runs under a small bash watchdog that holds the read end of a pipe whose write
//! end only this process holds: when this process exits for any reason (success, panic, abort,
//! SIGKILL), the pipe closes, and the watchdog stops the child (TERM, then KILL after 5 s). This
//! needs no unsafe `pre_exec`/`prctl`.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{HarnessError, Result};
use crate::loopback_port::unused_loopback_port;

// Background jobs get /dev/null as stdin in a non-interactive shell, so the pipe is kept on fd 3.
const WATCHDOG: &str = r#"
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
( read -r _ <&3; kill -TERM "$child" 2>/dev/null; sleep 5; kill -KILL "$child" 2>/dev/null ) &
watcher=$!
wait "$child"; rc=$?
kill "$watcher" 2>/dev/null
exit $rc
"#;

/// A running child process with its log file.
#[derive(Debug)]
pub struct Supervised {
    pub what: &'static str,
    pub log: PathBuf,
    child: Child,
    /// Dropping this closes the pipe and makes the watchdog stop the child.
    lifeline: Option<ChildStdin>,
}

impl Supervised {
    /// Starts `program args...`, its stdout and stderr appended to `log`.
    pub fn spawn(what: &'static str, program: &Path, args: &[String], log: &Path) -> Result<Self> {
        Self::spawn_with_env(what, program, args, &[], log)
    }

    /// Like [`Supervised::spawn`], with extra environment variables.
    pub fn spawn_with_env(
        what: &'static str,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Result<Self> {
        let out =
            File::create(log).map_err(HarnessError::io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(HarnessError::io("duplicating a log handle"))?;
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("watchdog")
            .arg(program)
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                what,
                program: program.to_path_buf(),
                source,
            })?;
        let lifeline = child.stdin.take();
        Ok(Self {
            what,
            log: log.to_path_buf(),
            child,
            lifeline,
        })
    }

    /// Errors with the log's tail if the process has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(HarnessError::Exited {
                what: self.what,
                status: status.to_string(),
                log: self.log.clone(),
                tail: tail(&self.log, 40),
            }),
            Ok(None) => Ok(()),
            Err(e) => Err(HarnessError::io(format!("checking on {}", self.what))(e)),
        }
    }

    /// The not-ready error for this process, with its log's tail.
    pub fn not_ready(&self, since: Instant, last_error: impl ToString) -> HarnessError {
        HarnessError::NotReady {
            what: self.what,
            waited_secs: since.elapsed().as_secs(),
            last_error: last_error.to_string(),
            log: self.log.clone(),
            tail: tail(&self.log, 40),
        }
    }

    /// Stops the process and waits up to `grace` for it to go.
    pub fn stop(&mut self, grace: Duration) {
        drop(self.lifeline.take());
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// Removes a directory when this process exits, however it exits: the same pipe trick as
/// [`Supervised`], for directories owned by values that are never dropped (statics). It waits a
/// few seconds first so the watchdogs have stopped the processes writing there.
#[derive(Debug)]
pub struct Janitor {
    _lifeline: ChildStdin,
    _child: Child,
}

impl Janitor {
    pub fn remove_on_exit(dir: &Path) -> Result<Self> {
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(r#"read -r _; sleep 6; rm -rf -- "$1""#)
            .arg("janitor")
            .arg(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(HarnessError::io("starting the directory janitor"))?;
        let lifeline = child.stdin.take().expect("stdin is piped");
        Ok(Self {
            _lifeline: lifeline,
            _child: child,
        })
    }
}

/// The last `n` lines of a log file (at most 64 KiB are read).
pub fn tail(path: &Path, n: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut buf = Vec::new();
    let _ = f.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A free loopback port, never one this process handed out before
/// ([`crate::loopback_port::unused_loopback_port`]). Callers that start a server on it retry
/// with a new port when the server reports the address in use ([`lost_port_race`]).
pub fn free_port() -> Result<u16> {
    unused_loopback_port().map_err(HarnessError::io("finding a free loopback port"))
}

/// `N` distinct free loopback ports (see [`free_port`]).
pub fn free_ports<const N: usize>() -> Result<[u16; N]> {
    let mut ports = [0; N];
    for port in &mut ports {
        *port = free_port()?;
    }
    Ok(ports)
}

/// Whether a server failed to start because another process bound its port first: Go servers
/// say "address already in use", Rust ones "Address already in use".
pub fn lost_port_race(e: &HarnessError) -> bool {
    e.to_string()
        .to_ascii_lowercase()
        .contains("address already in use")
}
