//! `kubectl secretkms status`: one screen that answers "is my Secret encryption healthy?" Each
//! part is gathered independently and reports its own error, so one unreachable source (say,
//! KMS without credentials) never hides the others.

mod envelope;
mod etcd_reader;
mod webhook_health;

use std::sync::Arc;
use std::time::SystemTime;

use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::{Api, Client};
use secretkms_core::apiserver_health;
use secretkms_core::observations::Observations;
use secretkms_core::policy::{FixedKeyLookup, PolicyConfig, PolicyRuntime, RuntimeConfig};
use secretkms_core::review::Review;
use secretkms_core::state::{ApiserverFacts, Declared, KeyFacts, KeyState, RewriteFacts};
use serde::Serialize;

pub use envelope::{Envelope, classify, encrypted_object_key_id};
pub use etcd_reader::{EnvelopeCount, EtcdArgs, EtcdCounts};
pub use webhook_health::WebhookHealth;

use crate::cli::GlobalArgs;
use crate::exit::Exit;
use crate::kms_access::{self, KmsArgs};
use crate::output::{Level, Style, Table};
use crate::rotation_time::{self, ANNOTATION};

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  kubectl secretkms status
  kubectl secretkms status -o json
  kubectl secretkms status --etcd-endpoints https://10.0.0.1:2379 --etcd-cacert ca.crt \\
      --etcd-cert client.crt --etcd-key client.key")]
pub struct StatusArgs {
    /// The key to describe (default: the SecretEncryption's).
    #[arg(long)]
    pub key: Option<String>,
    /// The key's region (default: the SecretEncryption's, or the key's ARN).
    #[arg(long)]
    pub region: Option<String>,
    /// The rotation time to measure rewrite progress against (default: the key's last rotation).
    #[arg(long, value_name = "TIME")]
    pub time: Option<String>,
    /// Inspect this webhook (or ValidatingWebhookConfiguration) instead of every `*.secretkms.io`.
    #[arg(long, value_name = "NAME")]
    pub webhook: Option<String>,
    #[command(flatten)]
    pub kms: KmsArgs,
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// One part of the status: its value, or why it is unknown.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Part<T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T> Part<T> {
    fn ok(value: T) -> Self {
        Self {
            value: Some(value),
            error: None,
        }
    }
    fn none() -> Self {
        Self {
            value: None,
            error: None,
        }
    }
    fn err(error: impl std::fmt::Display) -> Self {
        Self {
            value: None,
            error: Some(format!("{error:#}")),
        }
    }
    fn from(result: Result<T, impl std::fmt::Display>) -> Self {
        match result {
            Ok(v) => Self::ok(v),
            Err(e) => Self::err(e),
        }
    }
}

/// What the policies decide for a Secret CREATE right now.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PolicyPreview {
    pub namespace: String,
    pub allowed: bool,
    pub code: u16,
    pub message: String,
    pub warnings: Vec<String>,
}

/// Secrets carrying the current rotation time.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RewriteProgress {
    pub annotation: String,
    pub time: String,
    pub done: u64,
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub level: Level,
    pub part: &'static str,
    pub message: String,
}

/// The `-o json|yaml` document (schema in the README, "kubectl secretkms").
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub kind: &'static str,
    pub declared: Part<Declared>,
    pub key: Part<KeyFacts>,
    pub apiserver: Part<ApiserverFacts>,
    pub webhooks: Part<Vec<WebhookHealth>>,
    pub policy: Part<PolicyPreview>,
    pub rewrite: Part<RewriteProgress>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Part<EtcdCounts>>,
    pub findings: Vec<Finding>,
    /// True when no finding is a failure.
    pub healthy: bool,
}

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> anyhow::Result<Exit> {
    let StatusArgs {
        key,
        region,
        time,
        webhook,
        kms,
        etcd,
    } = args;
    let (client, namespace) = global.kube.client(true).await?;
    let now = SystemTime::now();
    let mut obs = Observations::default();

    let spec = kms_access::declared(&client).await;
    let declared = match &spec {
        Ok(Some(spec)) => {
            obs.declared.succeed(Declared::from(spec), now);
            Part::ok(Declared::from(spec))
        }
        Ok(None) => {
            obs.declared.absent(now);
            Part::none()
        }
        Err(e) => {
            obs.declared.fail(format!("{e:#}"));
            Part::err(e)
        }
    };
    let spec = spec.ok().flatten();

    let key_name = key
        .or_else(|| spec.as_ref().map(|s| s.key.clone()))
        .filter(|k| !k.is_empty());
    let key_facts = match &key_name {
        Some(k) => {
            let region = region.or_else(|| spec.as_ref().and_then(|s| s.region.clone()));
            let result = async {
                let endpoint = kms.endpoint(
                    k,
                    region.as_deref(),
                    spec.as_ref().and_then(|s| s.endpoint.as_deref()),
                )?;
                anyhow::Ok(kms.client(endpoint)?.key_facts(k).await?)
            }
            .await;
            match &result {
                Ok(f) => obs.key.succeed(f.clone(), now),
                Err(e) => obs.key.fail(format!("{e:#}")),
            }
            Part::from(result)
        }
        None => Part::none(),
    };

    let apiserver = Part::from(apiserver_health::probe(&client).await);
    match (&apiserver.value, &apiserver.error) {
        (Some(f), _) => obs.apiserver.succeed(f.clone(), now),
        (None, Some(e)) => obs.apiserver.fail(e.clone()),
        _ => {}
    }

    let webhooks = Part::from(webhook_health::inspect(&client, webhook.as_deref()).await);

    let time = time.or_else(|| {
        key_facts
            .value
            .as_ref()
            .and_then(|f| f.last_rotation_date.as_deref())
            .and_then(|d| rotation_time::from_kms_date(d).ok())
    });
    let rewrite = match &time {
        Some(t) => Part::from(progress(&client, t).await),
        None => Part::err("unknown rotation time: no key facts (pass --time)"),
    };
    if let Some(p) = &rewrite.value {
        obs.rewrite.succeed(
            RewriteFacts {
                target: p.time.clone(),
                total: p.total,
                done: p.done,
            },
            now,
        );
    }

    let state = obs.state_at(now);
    let keys = FixedKeyLookup::new(
        key_name
            .iter()
            .zip(key_facts.value.iter())
            .map(|(k, f)| (k.clone(), f.clone())),
    );
    let policy = Part::from(preview(&state, keys, &namespace));

    let etcd = if etcd.etcd_endpoints.is_empty() {
        None
    } else {
        Some(Part::from(etcd.count().await))
    };

    let mut report = StatusReport {
        kind: "SecretKmsStatus",
        declared,
        key: key_facts,
        apiserver,
        webhooks,
        policy,
        rewrite,
        etcd,
        findings: Vec::new(),
        healthy: true,
    };
    report.findings = findings(&report);
    report.healthy = !report.findings.iter().any(|f| f.level == Level::Fail);
    if !global.output.print_structured(&report)? {
        print!("{}", render(&report, global.output.style()));
    }
    Ok(Exit::findings_if(!report.healthy))
}

/// Counts Secrets carrying `time` from a metadata-only listing (never their data).
async fn progress(client: &Client, time: &str) -> anyhow::Result<RewriteProgress> {
    let api: Api<Secret> = Api::all(client.clone());
    let (mut done, mut total) = (0, 0);
    let mut token = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        lp.continue_token = token;
        let page = api.list_metadata(&lp).await?;
        for s in &page.items {
            total += 1;
            if s.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION))
                .is_some_and(|v| v == time)
            {
                done += 1;
            }
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(RewriteProgress {
        annotation: ANNOTATION.into(),
        time: time.into(),
        done,
        total,
    })
}

/// The builtin policies' decision on a synthetic Secret CREATE in `namespace`.
fn preview(
    state: &secretkms_core::state::EncryptionState,
    keys: FixedKeyLookup,
    namespace: &str,
) -> anyhow::Result<PolicyPreview> {
    let runtime = PolicyRuntime::new(RuntimeConfig::default())?;
    let set = runtime.load(&PolicyConfig::builtin(), Arc::new(keys))?;
    let request = serde_json::json!({
        "uid": "00000000-0000-0000-0000-000000000000",
        "kind": {"group": "", "version": "v1", "kind": "Secret"},
        "resource": {"group": "", "version": "v1", "resource": "secrets"},
        "namespace": namespace,
        "operation": "CREATE",
        "userInfo": {"username": "kubectl-secretkms-status"},
        "object": {"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "secretkms-status-probe", "namespace": namespace}},
        "dryRun": true
    });
    let request = request.to_string();
    let d = set.evaluate(&Review::decode_request(&request)?, state);
    Ok(PolicyPreview {
        namespace: namespace.into(),
        allowed: d.allowed(),
        code: d.code(),
        message: d.message,
        warnings: d.warnings,
    })
}

/// What needs attention, worst first within each part.
pub fn findings(r: &StatusReport) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |level, part, message: String| {
        out.push(Finding {
            level,
            part,
            message,
        })
    };
    match (&r.declared.value, &r.declared.error) {
        (_, Some(e)) => add(
            Level::Warn,
            "declared",
            format!("cannot read SecretEncryption/cluster: {e}"),
        ),
        (None, None) => add(
            Level::Warn,
            "declared",
            "no SecretEncryption named cluster: secretkms enforces nothing".into(),
        ),
        _ => {}
    }
    if let Some(e) = &r.key.error {
        add(Level::Warn, "key", format!("key facts unknown: {e}"));
    }
    if let Some(k) = &r.key.value {
        if k.state != KeyState::Enabled {
            add(
                Level::Fail,
                "key",
                format!(
                    "key {} is {}: the apiserver cannot encrypt or decrypt",
                    k.key_id, k.state_name
                ),
            );
        }
        if let Some(d) = &r.declared.value
            && !d.required_key_spec.is_empty()
            && k.spec != d.required_key_spec
        {
            add(
                Level::Fail,
                "key",
                format!(
                    "key spec {} is not the required {}",
                    k.spec, d.required_key_spec
                ),
            );
        }
        if k.deletion_protection != Some(true) {
            add(
                Level::Warn,
                "key",
                format!("deletion protection is off for key {}", k.key_id),
            );
        }
    }
    match (&r.apiserver.value, &r.apiserver.error) {
        (Some(a), _) if !a.kms_configured => add(Level::Fail, "apiserver", a.detail.clone()),
        (Some(a), _) if !a.kms_healthy => add(
            Level::Fail,
            "apiserver",
            format!("KMS provider unhealthy: {}", a.detail),
        ),
        (_, Some(e)) => add(Level::Warn, "apiserver", e.clone()),
        _ => {}
    }
    match (&r.webhooks.value, &r.webhooks.error) {
        (Some(list), _) if list.is_empty() => add(
            Level::Warn,
            "webhook",
            "no *.secretkms.io webhook is registered".into(),
        ),
        (Some(list), _) => {
            for w in list {
                for c in [&w.ca_bundle, &w.answering] {
                    if c.level == Level::Fail {
                        add(
                            Level::Fail,
                            "webhook",
                            format!("{}: {}", w.webhook, c.detail),
                        );
                    }
                }
            }
        }
        (_, Some(e)) => add(
            Level::Warn,
            "webhook",
            format!("cannot list webhook configurations: {e}"),
        ),
        _ => {}
    }
    match (&r.policy.value, &r.policy.error) {
        (Some(p), _) if !p.allowed => add(
            Level::Fail,
            "policy",
            format!("a Secret write would be denied ({}): {}", p.code, p.message),
        ),
        (_, Some(e)) => add(
            Level::Warn,
            "policy",
            format!("cannot evaluate the policies: {e}"),
        ),
        _ => {}
    }
    if let Some(p) = &r.rewrite.value
        && p.done < p.total
    {
        add(
            Level::Warn,
            "rewrite",
            format!(
                "{} of {} Secrets not rewritten since the rotation at {}: run kubectl secretkms rewrite -A",
                p.total - p.done,
                p.total,
                p.time
            ),
        );
    }
    if let Some(etcd) = &r.etcd {
        match (&etcd.value, &etcd.error) {
            (Some(c), _) => {
                let plain: u64 = c
                    .envelopes
                    .iter()
                    .filter(|e| e.envelope.provider == "identity")
                    .map(|e| e.count)
                    .sum();
                if plain > 0 {
                    add(
                        Level::Warn,
                        "etcd",
                        format!("{plain} Secrets are stored in plaintext"),
                    );
                }
                let kms_ids = c
                    .envelopes
                    .iter()
                    .filter(|e| e.envelope.provider == "kms-v2")
                    .count();
                if kms_ids > 1 {
                    add(
                        Level::Warn,
                        "etcd",
                        format!(
                            "Secrets are stored under {kms_ids} KMS v2 key ids: a rewrite is unfinished"
                        ),
                    );
                }
            }
            (_, Some(e)) => add(Level::Warn, "etcd", e.clone()),
            _ => {}
        }
    }
    out
}

/// The human screen.
pub fn render(r: &StatusReport, style: Style) -> String {
    let mut out = String::new();
    let section = |out: &mut String, title: &str| {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&style.bold(title));
        out.push('\n');
    };
    let kv = |out: &mut String, k: &str, v: &str| {
        if k.is_empty() {
            out.push_str(&format!("  {v}\n"));
        } else {
            out.push_str(&format!("  {k:<22}{v}\n"));
        }
    };
    let err = |out: &mut String, e: &str| out.push_str(&format!("  unknown: {e}\n"));

    section(&mut out, "Declared (SecretEncryption/cluster)");
    match (&r.declared.value, &r.declared.error) {
        (Some(d), _) => {
            kv(&mut out, "key", &d.key);
            kv(&mut out, "provider", &d.provider);
            kv(&mut out, "region", d.region.as_deref().unwrap_or("-"));
            kv(&mut out, "required key spec", &d.required_key_spec);
            kv(
                &mut out,
                "enforcement",
                if d.enforce { "enforce" } else { "audit" },
            );
        }
        (None, Some(e)) => err(&mut out, e),
        (None, None) => kv(&mut out, "", "none declared"),
    }

    section(&mut out, "Key (KMS)");
    match (&r.key.value, &r.key.error) {
        (Some(k), _) => {
            kv(&mut out, "key id", &k.key_id);
            kv(&mut out, "state", &k.state_name);
            kv(
                &mut out,
                "spec / usage",
                &format!("{} / {}", k.spec, k.usage),
            );
            kv(
                &mut out,
                "primary version",
                k.primary_key_version.as_deref().unwrap_or("-"),
            );
            let rotation = match k.automatic_rotation {
                Some(true) => format!(
                    "every {} (last {}, next {})",
                    k.rotation_interval.as_deref().unwrap_or("?"),
                    k.last_rotation_date.as_deref().unwrap_or("never"),
                    k.next_rotation_date.as_deref().unwrap_or("?")
                ),
                _ => format!(
                    "off (last {})",
                    k.last_rotation_date.as_deref().unwrap_or("never")
                ),
            };
            kv(&mut out, "automatic rotation", &rotation);
            kv(
                &mut out,
                "deletion",
                k.delete_date
                    .as_deref()
                    .map(|d| format!("scheduled {d}"))
                    .as_deref()
                    .unwrap_or("not scheduled"),
            );
            kv(
                &mut out,
                "deletion protection",
                if k.deletion_protection == Some(true) {
                    "on"
                } else {
                    "off"
                },
            );
        }
        (None, Some(e)) => err(&mut out, e),
        (None, None) => kv(&mut out, "", "no key declared or given"),
    }

    section(&mut out, "Apiserver KMS health (/readyz/kms-providers)");
    match (&r.apiserver.value, &r.apiserver.error) {
        (Some(a), _) => {
            kv(
                &mut out,
                "configured",
                if a.kms_configured { "yes" } else { "no" },
            );
            kv(
                &mut out,
                "healthy",
                if a.kms_healthy { "yes" } else { "no" },
            );
            kv(&mut out, "detail", &a.detail);
        }
        (None, Some(e)) => err(&mut out, e),
        _ => {}
    }

    section(&mut out, "Webhook");
    match (&r.webhooks.value, &r.webhooks.error) {
        (Some(list), _) if list.is_empty() => {
            kv(&mut out, "", "no *.secretkms.io webhook registered")
        }
        (Some(list), _) => {
            let mut t = Table::new(&[
                "webhook",
                "failure policy",
                "ca bundle",
                "answering",
                "endpoint",
            ]);
            let mut levels = Vec::new();
            for w in list {
                levels.push((w.ca_bundle.level, w.answering.level));
                t.row(vec![
                    w.webhook.clone(),
                    w.failure_policy.clone(),
                    w.ca_bundle.level.label().into(),
                    w.answering.level.label().into(),
                    w.endpoint.clone(),
                ]);
            }
            for line in t
                .render_with(|col, row, cell| match col {
                    2 => style.level(levels[row].0, cell.len()),
                    3 => style.level(levels[row].1, cell.len()),
                    _ => cell,
                })
                .lines()
            {
                out.push_str(&format!("  {line}\n"));
            }
            for w in list {
                for (what, c) in [("ca bundle", &w.ca_bundle), ("answering", &w.answering)] {
                    if c.level != Level::Pass {
                        out.push_str(&format!("  {} {what}: {}\n", w.webhook, c.detail));
                    }
                }
            }
        }
        (None, Some(e)) => err(&mut out, e),
        _ => {}
    }

    section(&mut out, "Policy decision for a Secret write now");
    match (&r.policy.value, &r.policy.error) {
        (Some(p), _) => {
            let verdict = if p.allowed {
                "allowed".to_string()
            } else {
                format!("denied ({})", p.code)
            };
            kv(&mut out, &format!("CREATE in {}", p.namespace), &verdict);
            if !p.allowed {
                kv(&mut out, "message", &p.message);
            }
            for w in &p.warnings {
                kv(&mut out, "warning", w);
            }
        }
        (None, Some(e)) => err(&mut out, e),
        _ => {}
    }

    section(&mut out, "Rewrite progress");
    match (&r.rewrite.value, &r.rewrite.error) {
        (Some(p), _) => {
            kv(&mut out, "rotation time", &p.time);
            kv(
                &mut out,
                "rewritten",
                &format!(
                    "{}/{} Secrets carry {}={}",
                    p.done, p.total, p.annotation, p.time
                ),
            );
        }
        (None, Some(e)) => err(&mut out, e),
        _ => {}
    }

    if let Some(etcd) = &r.etcd {
        section(&mut out, "Stored Secrets (etcd)");
        match (&etcd.value, &etcd.error) {
            (Some(c), _) => {
                let mut t = Table::new(&["provider", "name", "key id", "secrets"]);
                for e in &c.envelopes {
                    t.row(vec![
                        e.envelope.provider.clone(),
                        if e.envelope.name.is_empty() {
                            "-".into()
                        } else {
                            e.envelope.name.clone()
                        },
                        if e.envelope.key_id.is_empty() {
                            "-".into()
                        } else {
                            e.envelope.key_id.clone()
                        },
                        e.count.to_string(),
                    ]);
                }
                for line in t.render().lines() {
                    out.push_str(&format!("  {line}\n"));
                }
                kv(&mut out, "total", &c.total.to_string());
            }
            (None, Some(e)) => err(&mut out, e),
            _ => {}
        }
    }

    section(&mut out, "Findings");
    if r.findings.is_empty() {
        out.push_str("  none: Secret encryption is healthy\n");
    }
    for f in &r.findings {
        out.push_str(&format!(
            "  {} {:<10}{}\n",
            style.level(f.level, 4),
            f.part,
            f.message
        ));
    }
    out
}
