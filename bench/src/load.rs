//! The load itself: one task per keep-alive connection, each with one request in flight.
//!
//! - Closed loop (no `--rate`): a connection sends its next review as soon as the previous answer
//!   arrives; throughput is the server's maximum at that concurrency.
//! - Open loop (`--rate R`): request `i` is due at `start + i/R`, connection `i mod C` sends it.
//!   When the previous answer on that connection arrived after the due time, the latency counts
//!   from the due time, so a slow server cannot hide its queueing by slowing the generator down
//!   ("coordinated omission"); otherwise it counts from the actual send, so the timer's ~1 ms
//!   granularity does not show up as server latency.
//!
//! Only requests sent during the measured window count; the warm-up's are discarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use crate::args::LoadArgs;
use crate::client::{Connection, Target};
use crate::cpu;
use crate::report::{Latency, ms};
use crate::review::{Template, uid};

/// A single request slower than this counts as an error and its connection is replaced.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What a run printed.
#[derive(Debug, Serialize)]
pub struct Report {
    pub label: String,
    pub mode: &'static str,
    pub connections: usize,
    pub target_rate: Option<f64>,
    pub review_bytes: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    /// Measured requests that got any answer or failed.
    pub requests: u64,
    /// HTTP 200 with our uid echoed.
    pub ok: u64,
    /// Of `ok`, how many were allowed.
    pub allowed: u64,
    pub non_200: u64,
    /// HTTP 200 without our uid: a wrong answer.
    pub bad_answers: u64,
    /// Transport failures and timeouts.
    pub errors: u64,
    pub reconnects: u64,
    pub throughput_rps: f64,
    pub latency: Option<Latency>,
    /// CPU the generator itself used during the measured window, in seconds.
    pub loadgen_cpu_s: Option<f64>,
    /// CPU the server used during the measured window (with `--server-pid`), in seconds.
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s` per measured request, in microseconds: cost per review independent of
    /// how the cores were shared.
    pub server_cpu_us_per_review: Option<f64>,
    /// The first unexpected answer or error, for diagnosis.
    pub first_failure: Option<String>,
}

#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    requests: u64,
    ok: u64,
    allowed: u64,
    non_200: u64,
    bad_answers: u64,
    errors: u64,
    reconnects: u64,
    first_failure: Option<String>,
}

impl Tally {
    fn fail(&mut self, why: impl FnOnce() -> String) {
        if self.first_failure.is_none() {
            self.first_failure = Some(why());
        }
    }

    fn add(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        self.requests += other.requests;
        self.ok += other.ok;
        self.allowed += other.allowed;
        self.non_200 += other.non_200;
        self.bad_answers += other.bad_answers;
        self.errors += other.errors;
        self.reconnects += other.reconnects;
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// The schedule every connection follows.
#[derive(Clone, Copy)]
struct Plan {
    connections: usize,
    rate: Option<f64>,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    max_requests: u64,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<Report> {
    let target = Arc::new(Target::new(&args.target)?);
    let template = Arc::new(Template::load(args.review.as_deref())?);
    let connections = args.connections.max(1);
    let mut conns = Vec::with_capacity(connections);
    for i in 0..connections {
        conns.push(
            target
                .connect()
                .await
                .with_context(|| format!("opening connection {i}"))?,
        );
    }
    let start = Instant::now() + Duration::from_millis(10);
    let plan = Plan {
        connections,
        rate: args.rate.filter(|r| *r > 0.0),
        start,
        measure_from: start + args.warmup,
        end: start + args.warmup + args.duration,
        max_requests: args.max_requests,
    };
    let measured = Arc::new(AtomicU64::new(0));
    let server = args.server_pid.map(|p| p.to_string());
    let cpu_window = tokio::spawn(async move {
        let read = || (cpu::time("self"), server.as_deref().and_then(cpu::time));
        tokio::time::sleep_until(plan.measure_from).await;
        let before = read();
        tokio::time::sleep_until(plan.end).await;
        let after = read();
        (
            before.0.zip(after.0).map(|(a, b)| b - a),
            before.1.zip(after.1).map(|(a, b)| b - a),
        )
    });
    let workers: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(k, conn)| {
            tokio::spawn(worker(
                k,
                conn,
                plan,
                target.clone(),
                template.clone(),
                measured.clone(),
            ))
        })
        .collect();
    // Bounded whatever the server does: each request has its own timeout, and this caps the rest.
    let hard_stop = plan.end + REQUEST_TIMEOUT + Duration::from_secs(5);
    let mut total = Tally::default();
    for w in workers {
        let tally = tokio::time::timeout_at(hard_stop, w)
            .await
            .context("the load did not stop in time")?
            .context("a connection task failed")?;
        total.add(tally);
    }
    let (loadgen_cpu, server_cpu) = cpu_window.await.context("the CPU sampler failed")?;
    Ok(Report {
        label: args.label,
        mode: if plan.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        connections,
        target_rate: plan.rate,
        review_bytes: template.len(),
        warmup_s: args.warmup.as_secs_f64(),
        duration_s: args.duration.as_secs_f64(),
        requests: total.requests,
        ok: total.ok,
        allowed: total.allowed,
        non_200: total.non_200,
        bad_answers: total.bad_answers,
        errors: total.errors,
        reconnects: total.reconnects,
        throughput_rps: (total.requests as f64 / args.duration.as_secs_f64()).round(),
        latency: Latency::of(total.latencies),
        loadgen_cpu_s: loadgen_cpu.map(|d| ms(d) / 1e3),
        server_cpu_s: server_cpu.map(|d| ms(d) / 1e3),
        server_cpu_us_per_review: server_cpu
            .filter(|_| total.requests > 0)
            .map(|d| (d.as_secs_f64() * 1e6 / total.requests as f64).round()),
        first_failure: total.first_failure,
    })
}

async fn worker(
    k: usize,
    mut conn: Connection,
    plan: Plan,
    target: Arc<Target>,
    template: Arc<Template>,
    measured: Arc<AtomicU64>,
) -> Tally {
    let mut tally = Tally::default();
    let mut prev_done = plan.start;
    let mut seq: u64 = 0;
    loop {
        let due = plan.rate.map(|r| {
            plan.start
                + Duration::from_secs_f64((k as u64 + seq * plan.connections as u64) as f64 / r)
        });
        let now = Instant::now();
        if due.unwrap_or(now) >= plan.end {
            break;
        }
        if let Some(due) = due
            && due > now
        {
            tokio::time::sleep_until(due).await;
        }
        let sent = Instant::now();
        let from = match due {
            Some(due) if prev_done > due => due,
            _ => sent,
        };
        let counted = from >= plan.measure_from;
        if counted && measured.fetch_add(1, Ordering::Relaxed) >= plan.max_requests {
            break;
        }
        let id = uid(k, seq);
        seq += 1;
        let result = tokio::time::timeout(
            REQUEST_TIMEOUT,
            target.post(&mut conn, template.with_uid(&id)),
        )
        .await;
        let done = Instant::now();
        prev_done = done;
        let mut t = Tally::default();
        let broken = match result {
            Ok(Ok(answer)) if answer.status == 200 => {
                let body = &answer.body[..];
                if contains(body, format!("\"uid\":\"{id}\"").as_bytes()) {
                    t.ok = 1;
                    t.allowed = u64::from(contains(body, b"\"allowed\":true"));
                    t.latencies.push(done - from);
                } else {
                    t.bad_answers = 1;
                    t.fail(|| format!("200 without uid {id}: {}", String::from_utf8_lossy(body)));
                }
                false
            }
            Ok(Ok(answer)) => {
                t.non_200 = 1;
                t.fail(|| {
                    format!(
                        "HTTP {}: {}",
                        answer.status,
                        String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
                    )
                });
                false
            }
            Ok(Err(e)) => {
                t.errors = 1;
                t.fail(|| format!("{e:#}"));
                true
            }
            Err(_) => {
                t.errors = 1;
                t.fail(|| format!("no answer within {REQUEST_TIMEOUT:?}"));
                true
            }
        };
        if counted {
            t.requests = 1;
            tally.add(t);
        }
        if broken {
            match reconnect(&target, plan.end).await {
                Some(c) => {
                    conn = c;
                    tally.reconnects += 1;
                }
                None => break,
            }
        }
    }
    tally
}

/// A new connection, retried every 10 ms until `end`.
async fn reconnect(target: &Target, end: Instant) -> Option<Connection> {
    while Instant::now() < end {
        if let Ok(c) = target.connect().await {
            return Some(c);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    None
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_echoed_uid() {
        let body = br#"{"response":{"uid":"abc","allowed":true}}"#;
        assert!(contains(body, br#""uid":"abc""#));
        assert!(!contains(body, br#""uid":"abd""#));
        assert!(contains(body, b"\"allowed\":true"));
    }
}
