//! Waiting for an ACK cluster to apply a change: DescribeClusterDetail polled until the
//! cluster is `running` again, bounded by a timeout. Progress is a spinner line redrawn on a
//! terminal and a plain line per state change (and every half minute) otherwise.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use secretkms_alibaba::cs::{ClusterState, CsClient};
use serde::Serialize;

/// A `running` cluster right after the call may not have started the change yet: it counts as
/// done only after `updating` was seen, or after this long.
const START_GRACE: Duration = Duration::from_secs(20);
const LINE_EVERY: Duration = Duration::from_secs(30);

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Waited {
    /// The last state seen.
    pub state: String,
    pub seconds: u64,
    pub saw_updating: bool,
    /// `running`, `failed` (a state ACK leaves a failed change in) or `timeout`.
    pub outcome: &'static str,
}

enum Progress {
    Bar(ProgressBar),
    Lines { last: Option<(String, Instant)> },
    Quiet,
}

impl Progress {
    fn new(quiet: bool) -> Self {
        if quiet {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                    .expect("a fixed template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            Self::Bar(bar)
        } else {
            Self::Lines { last: None }
        }
    }

    fn show(&mut self, cluster_id: &str, state: &str, elapsed: Duration) {
        let text = format!("cluster {cluster_id}: {state} ({}s)", elapsed.as_secs());
        match self {
            Self::Bar(bar) => bar.set_message(text),
            Self::Lines { last } => {
                let due = match last {
                    Some((s, at)) => s != state || at.elapsed() >= LINE_EVERY,
                    None => true,
                };
                if due {
                    eprintln!("{text}");
                    *last = Some((state.to_string(), Instant::now()));
                }
            }
            Self::Quiet => {}
        }
    }

    fn finish(&self) {
        if let Self::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Polls every `interval` until the change is applied, failed, or `timeout` passed. Calls that
/// fail are retried until the timeout; the last error is returned only if none succeeded.
pub async fn until_running(
    cs: &CsClient,
    cluster_id: &str,
    timeout: Duration,
    interval: Duration,
    quiet: bool,
) -> anyhow::Result<Waited> {
    let started = Instant::now();
    let mut progress = Progress::new(quiet);
    let mut saw_updating = false;
    let mut last_state = None;
    let mut last_error = None;
    let done = |outcome, state: &Option<String>, saw_updating| Waited {
        state: state.clone().unwrap_or_default(),
        seconds: started.elapsed().as_secs(),
        saw_updating,
        outcome,
    };
    loop {
        match cs.describe_cluster_detail(cluster_id).await {
            Ok(detail) => {
                let state = detail.state.as_str().to_string();
                progress.show(cluster_id, &state, started.elapsed());
                last_state = Some(state);
                match &detail.state {
                    ClusterState::Running if saw_updating || started.elapsed() >= START_GRACE => {
                        progress.finish();
                        return Ok(done("running", &last_state, saw_updating));
                    }
                    ClusterState::Failed => {
                        progress.finish();
                        return Ok(done("failed", &last_state, saw_updating));
                    }
                    s if s.is_in_progress() => saw_updating = true,
                    _ => {}
                }
            }
            Err(e) => last_error = Some(e),
        }
        if started.elapsed() >= timeout {
            progress.finish();
            return match (&last_state, last_error) {
                (None, Some(e)) => Err(anyhow::Error::msg(e.to_string())
                    .context(format!("cannot describe cluster {cluster_id}"))),
                _ => Ok(done("timeout", &last_state, saw_updating)),
            };
        }
        tokio::time::sleep(interval.min(timeout.saturating_sub(started.elapsed()))).await;
    }
}
