//! `kubectl secretkms policy run|test`: the authoring loop for policies, like kwctl. Both use
//! core's policy runtime, the one the webhook runs, and the model's case format, the one the
//! policy kit's native tests read, so a case that passes here decides the same way in the cluster
//! and in `cargo test`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use secretkms_core::policy::{
    Builtin, KeyLookup, Operation, Outcome, PolicyConfig, PolicyRuntime, PolicySource, PolicySpec,
    Rule, RuntimeConfig, Verdict,
};
use secretkms_model::case::{self, Answer, Case};
use secretkms_model::{CannedKeys, EncryptionState};
use serde::Serialize;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::output::{Level, Table};

#[derive(Debug, Args)]
#[command(after_help = "\
Exit codes: 0 allowed, 1 denied or errored, 2 bad input.
Example:
  kubectl secretkms policy run --policy builtin:secret-write-guard --request req.json --state state.json")]
pub struct RunArgs {
    /// `builtin:<name>` or a component file (`.wasm`).
    #[arg(long, value_name = "SOURCE")]
    pub policy: PolicySource,
    /// The AdmissionRequest (or a whole AdmissionReview) as JSON.
    #[arg(long, value_name = "FILE")]
    pub request: PathBuf,
    /// The EncryptionState JSON (default: nothing known, now).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// The policy's settings JSON.
    #[arg(long, value_name = "FILE")]
    pub settings: Option<PathBuf>,
    /// Answers for the policy's describe-key calls: `{"<key>": {KeyFacts}}`.
    #[arg(long, value_name = "FILE")]
    pub keys: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Exit codes: 0 every case passed, 1 a case failed, 2 bad input.
Examples:
  kubectl secretkms policy test policies/secret-write-guard/cases
  kubectl secretkms policy test --policy target/my-policy.wasm my-policy/cases")]
pub struct TestArgs {
    /// A case folder, a folder of case folders (each sub-folder is a case), or a policy folder
    /// with `cases/`.
    pub dir: PathBuf,
    /// `builtin:<name>` or a component file; default: the builtin named like DIR (or its parent).
    #[arg(long, value_name = "SOURCE")]
    pub policy: Option<PolicySource>,
}

/// A verdict as `policy run` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub policy: String,
    pub allowed: bool,
    pub code: u16,
    pub message: String,
    pub warnings: Vec<String>,
    pub audit_annotations: Vec<(String, String)>,
    /// Set when the policy did not decide (trap, deadline, memory, bad verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
}

/// One case's result for `policy test`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseResult {
    pub case: String,
    pub passed: bool,
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    pub kind: &'static str,
    pub policy: String,
    pub passed: usize,
    pub failed: usize,
    pub cases: Vec<CaseResult>,
}

/// The name a policy is loaded under: the builtin's own, else the file stem.
fn policy_name(source: &PolicySource) -> String {
    match source {
        PolicySource::Builtin(b) => b.name().to_string(),
        PolicySource::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().to_lowercase().replace(['_', '.'], "-"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "policy".into()),
        PolicySource::Bytes(_) => "policy".into(),
    }
}

/// Evaluates `request` with one policy, whatever its rules would select.
pub fn evaluate_one(
    runtime: &PolicyRuntime,
    source: &PolicySource,
    settings: serde_json::Value,
    keys: Arc<dyn KeyLookup>,
    request: &str,
    state: &EncryptionState,
) -> anyhow::Result<(Result<Verdict, String>, f64)> {
    let name = policy_name(source);
    let mut spec = PolicySpec::new(name.clone(), source.clone());
    if !matches!(source, PolicySource::Builtin(_)) {
        // Files need rules to load; `evaluate_policy` ignores them anyway.
        spec.rules = vec![Rule::new(&["*"], &["*"], &["*/*"], &[Operation::All])];
    }
    spec.settings = settings;
    let set = runtime
        .load(
            &PolicyConfig {
                policies: vec![spec],
            },
            keys,
        )
        .with_context(|| format!("cannot load policy {source}"))?;
    let started = Instant::now();
    let result = set
        .evaluate_policy(&name, request, state)
        .with_context(|| format!("policy {name} not loaded"))?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok((
        match result.outcome {
            Outcome::Allowed(v) | Outcome::Denied(v) => Ok(v),
            Outcome::Errored(e) => Err(e.to_string()),
        },
        ms,
    ))
}

fn runtime() -> anyhow::Result<PolicyRuntime> {
    PolicyRuntime::new(RuntimeConfig::default()).context("cannot start the policy runtime")
}

fn read_json(path: &PathBuf, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

pub fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<Exit> {
    let RunArgs {
        policy,
        request,
        state,
        settings,
        keys,
    } = args;
    let request = case::request_object(&read_json(&request, "--request")?)
        .with_context(|| format!("invalid --request {}", request.display()))?;
    let state: EncryptionState = match state {
        Some(p) => serde_json::from_str(&read_json(&p, "--state")?)
            .with_context(|| format!("invalid --state {}", p.display()))?,
        None => EncryptionState {
            now: time::OffsetDateTime::now_utc().unix_timestamp(),
            ..Default::default()
        },
    };
    let settings = match settings {
        Some(p) => serde_json::from_str(&read_json(&p, "--settings")?)
            .with_context(|| format!("invalid --settings {}", p.display()))?,
        None => serde_json::Value::Null,
    };
    let keys: Arc<dyn KeyLookup> = Arc::new(match keys {
        Some(p) => CannedKeys::from_json(&read_json(&p, "--keys")?)
            .with_context(|| format!("invalid --keys {}", p.display()))?,
        None => CannedKeys::new(),
    });
    let (verdict, duration_ms) =
        evaluate_one(&runtime()?, &policy, settings, keys, &request, &state)?;
    let result = match verdict {
        Ok(v) => RunResult {
            policy: policy.to_string(),
            allowed: v.allowed,
            code: v.code,
            message: v.message,
            warnings: v.warnings,
            audit_annotations: v.audit_annotations,
            error: None,
            duration_ms,
        },
        Err(e) => RunResult {
            policy: policy.to_string(),
            allowed: false,
            code: 500,
            message: String::new(),
            warnings: Vec::new(),
            audit_annotations: Vec::new(),
            error: Some(e),
            duration_ms,
        },
    };
    if !global.output.print_structured(&result)? {
        let style = global.output.style();
        let word = match (&result.error, result.allowed) {
            (Some(_), _) => "ERRORED",
            (None, true) => "ALLOWED",
            (None, false) => "DENIED",
        };
        println!(
            "{} by {} ({:.2} ms)",
            style.bold(word),
            result.policy,
            result.duration_ms
        );
        if let Some(e) = &result.error {
            println!("  error: {e}");
        }
        if !result.allowed && result.error.is_none() {
            println!("  code: {}", result.code);
            println!("  message: {}", result.message);
        }
        for w in &result.warnings {
            println!("  warning: {w}");
        }
        for (k, v) in &result.audit_annotations {
            println!("  annotation: {k}={v}");
        }
    }
    Ok(Exit::findings_if(!result.allowed))
}

/// The builtin a folder is named after (`policies/secret-write-guard/cases` → secret-write-guard).
fn builtin_for(dir: &std::path::Path) -> Option<PolicySource> {
    let canonical = dir.canonicalize().ok()?;
    canonical
        .ancestors()
        .take(3)
        .filter_map(|a| a.file_name())
        .find_map(|n| Builtin::from_name(&n.to_string_lossy()))
        .map(PolicySource::Builtin)
}

pub fn test(global: &GlobalArgs, args: TestArgs) -> anyhow::Result<Exit> {
    let TestArgs { dir, policy } = args;
    let policy = match policy.or_else(|| builtin_for(&dir)) {
        Some(p) => p,
        None => anyhow::bail!(
            "which policy do the cases in {} test? pass --policy builtin:<name> or --policy FILE.wasm",
            dir.display()
        ),
    };
    let runtime = runtime()?;
    let mut cases = Vec::new();
    for case_dir in case::case_dirs(&dir)? {
        let case = Case::load(&case_dir)?;
        let keys: Arc<dyn KeyLookup> = Arc::new(case.keys.clone());
        let (verdict, _) = evaluate_one(
            &runtime,
            &policy,
            case.settings.clone(),
            keys,
            &case.request,
            &case.state,
        )?;
        let problems = match verdict {
            Ok(v) => case.expected.mismatches(&Answer {
                allowed: v.allowed,
                code: v.code,
                message: &v.message,
                warnings: &v.warnings,
            }),
            Err(e) => vec![format!("the policy errored: {e}")],
        };
        cases.push(CaseResult {
            case: case.name.clone(),
            passed: problems.is_empty(),
            problems,
        });
    }
    let failed = cases.iter().filter(|c| !c.passed).count();
    let report = TestReport {
        kind: "PolicyTest",
        policy: policy.to_string(),
        passed: cases.len() - failed,
        failed,
        cases,
    };
    if !global.output.print_structured(&report)? {
        let style = global.output.style();
        let mut table = Table::new(&["case", "result", "problems"]);
        for c in &report.cases {
            table.row(vec![
                c.case.clone(),
                if c.passed { "PASS" } else { "FAIL" }.into(),
                c.problems.join("; "),
            ]);
        }
        print!(
            "{}",
            table.render_with(|col, row, cell| if col == 1 {
                let level = if report.cases[row].passed {
                    Level::Pass
                } else {
                    Level::Fail
                };
                style.level(level, cell.len())
            } else {
                cell
            })
        );
        println!(
            "\n{}: {} passed, {} failed",
            report.policy, report.passed, report.failed
        );
    }
    Ok(Exit::findings_if(failed > 0))
}
