//! Start to ready: spawn the server, poll `GET /readyz` over TLS every 2 ms until it answers 200,
//! stop it, repeat. The time includes process start, certificate and policy loading (compiling or
//! reading the precompile cache), the state file and the TLS listener.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::io::AsyncReadExt;

use crate::args::StartupArgs;
use crate::client::Target;
use crate::report::ms;

/// One start may take this long before the run is abandoned.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub ready_ms: Vec<f64>,
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
}

pub async fn run(args: StartupArgs) -> anyhow::Result<Report> {
    let target = Target::new(&args.target)?;
    if args.prime {
        start_once(&args, &target).await.context("priming start")?;
    }
    let mut times = Vec::with_capacity(args.runs);
    for i in 0..args.runs.max(1) {
        times.push(
            start_once(&args, &target)
                .await
                .with_context(|| format!("start {}", i + 1))?,
        );
    }
    let ready_ms: Vec<f64> = times.iter().map(|d| ms(*d)).collect();
    times.sort();
    Ok(Report {
        label: args.label,
        ready_ms,
        median_ms: ms(times[times.len() / 2]),
        min_ms: ms(times[0]),
        max_ms: ms(times[times.len() - 1]),
    })
}

async fn start_once(args: &StartupArgs, target: &Target) -> anyhow::Result<Duration> {
    if let Some(dir) = &args.clear {
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("clearing {}", dir.display())),
        }
    }
    let (program, rest) = args
        .command
        .split_first()
        .context("no server command given")?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let ready = tokio::time::timeout(READY_TIMEOUT, target.wait_ready(Some(&mut child))).await;
    let took = started.elapsed();
    child.start_kill().ok();
    child.wait().await.ok();
    let outcome = match ready {
        Ok(Ok(())) => return Ok(took),
        Ok(Err(e)) => format!("{e:#}"),
        Err(_) => format!("not ready within {READY_TIMEOUT:?}"),
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr).await.ok();
    }
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    bail!(
        "{outcome}; the server's last log lines: {}",
        tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
    )
}
