//! Prometheus metrics: admission decisions by kind and their latency, refused requests, reviews
//! left unanswered (deadline, panic), certificate reloads, plus — rendered at scrape time — the policy runtime's per-policy counters and each
//! state source's age and error. Buckets go below a millisecond: the apiserver's own webhook
//! histogram starts at 5 ms, far above what an evaluation costs.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use secretkms_core::observations::Observations;
use secretkms_core::policy::{DURATION_BUCKETS_SECONDS, DecisionKind, PolicyMetricsSnapshot};

/// Label values come from a closed set, never from the request's own strings: a review is
/// untrusted input, and a label per distinct string would grow the registry without bound.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// `CREATE`, `UPDATE`, `DELETE`, `CONNECT` or `other`.
    operation: &'static str,
    /// `secrets`, `secretkms.io/secretencryptions` or `other`.
    resource: &'static str,
    /// `allowed`, `denied` (a policy's verdict) or `error` (a fail-closed policy could not
    /// decide), from the decision's kind.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WeakeningLabels {
    /// `state-file` or `unguarded-secret-writes` ([`crate::weakening::WeakeningKind`]).
    weakening: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PortLabels {
    /// `admission` or `metrics`.
    port: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The admission operations the apiserver sends.
const OPERATIONS: [&str; 4] = ["CREATE", "UPDATE", "DELETE", "CONNECT"];
/// The resources the chart's webhook configurations send (`group/resource`, core group bare).
const RESOURCES: [&str; 2] = ["secrets", "secretkms.io/secretencryptions"];
/// What any other value is counted as.
const OTHER: &str = "other";

/// A label whose values are known in advance: callers name a variant, and every value is
/// exported at 0 from the start (a series that only appears with its first event makes
/// `rate()` and alerts blind to that first event, and dashboards cannot tell "none" from "not
/// exported").
macro_rules! closed_label {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub fn value(self) -> &'static str {
                match self {
                    $(Self::$variant => $value),+
                }
            }
        }
    };
}

closed_label! {
    /// Why a request was refused before it was decided.
    BadRequest {
        ContentType => "content_type",
        TooLarge => "too_large",
        Body => "body",
        MalformedReview => "malformed_review",
    }
}

closed_label! {
    /// Why a review was accepted but not decided.
    Unanswered { Timeout => "timeout", Panic => "panic" }
}

closed_label! {
    /// The state sources that count their errors.
    Source { Declared => "declared", Kms => "kms", Apiserver => "apiserver" }
}

closed_label! {
    /// The ports that cap their connections.
    Port { Admission => "admission", Metrics => "metrics" }
}

closed_label! {
    ReloadResult { Success => "success", Failure => "failure" }
}

/// `value` when it is one of `set`, else [`OTHER`].
fn known(value: &str, set: &[&'static str]) -> &'static str {
    set.iter().find(|k| **k == value).copied().unwrap_or(OTHER)
}

/// The webhook's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    duration: Histogram,
    rejected: Family<ReasonLabels, Counter>,
    unanswered: Family<ReasonLabels, Counter>,
    cert_reloads: Family<ResultLabels, Counter>,
    source_errors: Family<SourceLabels, Counter>,
    weakened: Family<WeakeningLabels, Gauge>,
    connections_refused: Family<PortLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("secretkms");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission reviews decided, by outcome: allowed, denied (a policy's verdict), error (a fail-closed policy trapped, ran out of time or memory)",
            requests.clone(),
        );
        let duration = Histogram::new(
            DURATION_BUCKETS_SECONDS
                .iter()
                .copied()
                .chain([0.25, 1.0, 5.0]),
        );
        registry.register(
            "admission_duration_seconds",
            "Time from a review's arrival to its decision, including reading the body and policy evaluation",
            duration.clone(),
        );
        let rejected = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "admission_bad_requests",
            "Requests refused before evaluation: content_type, too_large, body (unreadable), malformed_review",
            rejected.clone(),
        );
        let unanswered = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "admission_unanswered",
            "Reviews that got no decision: timeout (none before the apiserver's deadline, HTTP 503), panic (a bug in secretkms, HTTP 500)",
            unanswered.clone(),
        );
        let cert_reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "tls_certificate_reloads",
            "Serving certificate reloads, by result",
            cert_reloads.clone(),
        );
        let source_errors = Family::<SourceLabels, Counter>::default();
        registry.register(
            "state_source_errors",
            "Failed attempts to read a source of facts",
            source_errors.clone(),
        );
        let weakened = Family::<WeakeningLabels, Gauge>::default();
        registry.register(
            "guard_weakened",
            "1 for each weakening of the guard accepted at start by --allow-weakening: state-file (its facts override live sources), unguarded-secret-writes (Secret writes are not denied)",
            weakened.clone(),
        );
        let connections_refused = Family::<PortLabels, Counter>::default();
        registry.register(
            "connections_refused",
            "New connections closed at once because the port had --max-connections open",
            connections_refused.clone(),
        );
        for reason in BadRequest::ALL {
            let _ = rejected.get_or_create(&ReasonLabels {
                reason: reason.value(),
            });
        }
        for reason in Unanswered::ALL {
            let _ = unanswered.get_or_create(&ReasonLabels {
                reason: reason.value(),
            });
        }
        for source in Source::ALL {
            let _ = source_errors.get_or_create(&SourceLabels {
                source: source.value(),
            });
        }
        for port in Port::ALL {
            let _ = connections_refused.get_or_create(&PortLabels { port: port.value() });
        }
        for result in ReloadResult::ALL {
            let _ = cert_reloads.get_or_create(&ResultLabels {
                result: result.value(),
            });
        }
        for kind in <crate::weakening::WeakeningKind as clap::ValueEnum>::value_variants() {
            let _ = weakened.get_or_create(&WeakeningLabels {
                weakening: kind.name(),
            });
        }
        Self {
            registry,
            requests,
            duration,
            rejected,
            unanswered,
            cert_reloads,
            source_errors,
            weakened,
            connections_refused,
        }
    }

    /// The weakenings accepted at start, one series each (value 1); none means an intact guard.
    pub fn weakened(&self, weakenings: &[crate::weakening::Weakening]) {
        for w in weakenings {
            self.weakened
                .get_or_create(&WeakeningLabels {
                    weakening: w.kind.name(),
                })
                .set(1);
        }
    }

    /// A new connection closed because its port had `--max-connections` open.
    pub fn connection_refused(&self, port: Port) {
        self.connections_refused
            .get_or_create(&PortLabels { port: port.value() })
            .inc();
    }

    /// A decided review, counted by the decision's kind.
    pub fn admission(&self, operation: &str, resource: &str, kind: DecisionKind, took: Duration) {
        let outcome = match kind {
            DecisionKind::Allowed => "allowed",
            DecisionKind::Denied { .. } => "denied",
            DecisionKind::Errored => "error",
        };
        self.requests
            .get_or_create(&RequestLabels {
                operation: known(operation, &OPERATIONS),
                resource: known(resource, &RESOURCES),
                outcome,
            })
            .inc();
        self.duration.observe(took.as_secs_f64());
    }

    /// A request refused before evaluation (4xx).
    pub fn bad_request(&self, reason: BadRequest) {
        self.rejected
            .get_or_create(&ReasonLabels {
                reason: reason.value(),
            })
            .inc();
    }

    /// A review accepted but not decided: `timeout` or `panic`.
    pub fn unanswered(&self, reason: Unanswered) {
        self.unanswered
            .get_or_create(&ReasonLabels {
                reason: reason.value(),
            })
            .inc();
    }

    pub fn source_error(&self, source: Source) {
        self.source_errors
            .get_or_create(&SourceLabels {
                source: source.value(),
            })
            .inc();
    }

    pub fn cert_reload(&self, ok: bool) {
        self.cert_reloads
            .get_or_create(&ResultLabels {
                result: if ok {
                    ReloadResult::Success
                } else {
                    ReloadResult::Failure
                }
                .value(),
            })
            .inc();
    }

    /// The OpenMetrics text for a scrape.
    pub fn render(
        &self,
        policies: &[PolicyMetricsSnapshot],
        observations: &Observations,
        now: SystemTime,
    ) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        let mut out = out.strip_suffix("# EOF\n").unwrap_or(&out).to_string();
        render_policies(&mut out, policies);
        render_sources(&mut out, observations, now);
        out.push_str("# EOF\n");
        out
    }
}

fn render_policies(out: &mut String, policies: &[PolicyMetricsSnapshot]) {
    let w = &mut *out;
    let _ = writeln!(
        w,
        "# HELP secretkms_policy_evaluations Policy evaluations, by what the policy answered (before mode and failure mode)."
    );
    let _ = writeln!(w, "# TYPE secretkms_policy_evaluations counter");
    for p in policies {
        let _ = writeln!(
            w,
            "secretkms_policy_evaluations_total{{policy=\"{}\",result=\"allowed\"}} {}",
            p.policy, p.allowed
        );
        let _ = writeln!(
            w,
            "secretkms_policy_evaluations_total{{policy=\"{}\",result=\"denied\"}} {}",
            p.policy, p.denied
        );
        for (kind, n) in &p.errors {
            let _ = writeln!(
                w,
                "secretkms_policy_evaluations_total{{policy=\"{}\",result=\"{}\"}} {n}",
                p.policy,
                kind.as_str()
            );
        }
    }
    let _ = writeln!(
        w,
        "# HELP secretkms_policy_evaluation_duration_seconds Time of one evaluation in a fresh instance."
    );
    let _ = writeln!(
        w,
        "# TYPE secretkms_policy_evaluation_duration_seconds histogram"
    );
    for p in policies {
        let bounds = DURATION_BUCKETS_SECONDS
            .iter()
            .map(|b| b.to_string())
            .chain(["+Inf".to_string()]);
        for (le, count) in bounds.zip(&p.duration_buckets) {
            let _ = writeln!(
                w,
                "secretkms_policy_evaluation_duration_seconds_bucket{{policy=\"{}\",le=\"{le}\"}} {count}",
                p.policy
            );
        }
        let _ = writeln!(
            w,
            "secretkms_policy_evaluation_duration_seconds_sum{{policy=\"{}\"}} {}",
            p.policy, p.duration_sum_seconds
        );
        let _ = writeln!(
            w,
            "secretkms_policy_evaluation_duration_seconds_count{{policy=\"{}\"}} {}",
            p.policy, p.evaluations
        );
    }
    let _ = writeln!(
        w,
        "# HELP secretkms_policy_memory_grown_evaluations Evaluations whose guest grew its memory past the initial size (each costs page-protection changes)."
    );
    let _ = writeln!(
        w,
        "# TYPE secretkms_policy_memory_grown_evaluations counter"
    );
    for p in policies {
        let _ = writeln!(
            w,
            "secretkms_policy_memory_grown_evaluations_total{{policy=\"{}\"}} {}",
            p.policy, p.memory_grown
        );
    }
}

fn render_sources(out: &mut String, observations: &Observations, now: SystemTime) {
    let state = observations.state_at(now);
    let w = &mut *out;
    let _ = writeln!(
        w,
        "# HELP secretkms_state_source_age_seconds Seconds since each source of facts last answered."
    );
    let _ = writeln!(w, "# TYPE secretkms_state_source_age_seconds gauge");
    for s in &state.sources {
        if let Some(age) = s.age_seconds {
            let _ = writeln!(
                w,
                "secretkms_state_source_age_seconds{{source=\"{}\"}} {age}",
                escape(&s.name)
            );
        }
    }
    let _ = writeln!(
        w,
        "# HELP secretkms_state_source_failing 1 when a source's last attempt failed."
    );
    let _ = writeln!(w, "# TYPE secretkms_state_source_failing gauge");
    for s in &state.sources {
        let _ = writeln!(
            w,
            "secretkms_state_source_failing{{source=\"{}\"}} {}",
            escape(&s.name),
            u8::from(s.last_error.is_some())
        );
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_the_wire_stay_a_closed_set() {
        let metrics = Metrics::new();
        for i in 0..1_000 {
            let junk = format!("{}{i}", "X".repeat(1024));
            metrics.admission(&junk, &junk, DecisionKind::Allowed, Duration::ZERO);
        }
        metrics.admission("CREATE", "secrets", DecisionKind::Allowed, Duration::ZERO);
        let text = metrics.render(&[], &Observations::default(), SystemTime::now());
        let series: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("secretkms_admission_requests_total{"))
            .collect();
        assert_eq!(series.len(), 2, "{series:#?}");
        assert!(
            series
                .iter()
                .any(|l| l.contains(r#"operation="other",resource="other""#))
        );
        assert!(
            series
                .iter()
                .any(|l| l.contains(r#"operation="CREATE",resource="secrets""#))
        );
        assert!(
            text.len() < 16 * 1024,
            "the scrape stays small: {} bytes",
            text.len()
        );
    }

    #[test]
    fn closed_label_sets_are_exported_at_zero_before_any_event() {
        let text = Metrics::new().render(&[], &Observations::default(), SystemTime::now());
        for series in [
            r#"secretkms_admission_bad_requests_total{reason="too_large"} 0"#,
            r#"secretkms_admission_unanswered_total{reason="timeout"} 0"#,
            r#"secretkms_state_source_errors_total{source="kms"} 0"#,
            r#"secretkms_connections_refused_total{port="admission"} 0"#,
            r#"secretkms_tls_certificate_reloads_total{result="failure"} 0"#,
            r#"secretkms_guard_weakened{weakening="state-file"} 0"#,
        ] {
            assert!(text.lines().any(|l| l == series), "no {series} in:\n{text}");
        }
    }
}
