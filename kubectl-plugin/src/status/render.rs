//! The human `status` screen: one section per part, then the findings with their fixes. Where
//! no SecretEncryption exists it prints one to apply, with the declared defaults.

use secretkms_core::rotation_reach::{Moves, Rewritten};
use secretkms_core::secret_encryption::{CLUSTER, SecretEncryption, SecretEncryptionSpec};
use secretkms_model::KeyFacts;

use super::report::StatusReport;
use crate::output::{Level, Style, Table};

/// The placeholder for the key when none is known.
const KEY_PLACEHOLDER: &str = "<key id, alias/... or ARN>";

/// A SecretEncryption named `cluster` as YAML: the key (if `key` names one, else a
/// placeholder) and every other field at its declared default.
pub fn new_secret_encryption(key: Option<&KeyFacts>) -> String {
    let mut spec = serde_json::json!({
        "key": key.map(|k| k.arn.clone().unwrap_or_else(|| k.key_id.clone()))
            .unwrap_or_else(|| KEY_PLACEHOLDER.into()),
    });
    if let Some(region) = key.and_then(|k| k.region.clone()) {
        spec["region"] = region.into();
    }
    let spec: SecretEncryptionSpec =
        serde_json::from_value(spec).expect("a key is all a SecretEncryption needs");
    let object = SecretEncryption::new(CLUSTER, spec);
    serde_yaml::to_string(&object).expect("a SecretEncryption serializes")
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
        (None, None) => {
            kv(
                &mut out,
                "",
                "none declared; to guard Secret writes, fill in the key and kubectl apply -f this:",
            );
            for line in new_secret_encryption(r.key.value.as_ref()).lines() {
                kv(&mut out, "", &format!("  {line}"));
            }
        }
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

    section(&mut out, "Apiserver KMS health (/readyz?verbose)");
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
            for check in &a.checks {
                let verdict = if check.healthy { "ok" } else { "failing" };
                kv(
                    &mut out,
                    &format!("check {}", check.name),
                    &format!("{verdict}: {}", check.detail),
                );
            }
            if a.checks.is_empty() {
                kv(&mut out, "detail", &a.detail);
            }
            match a.secret_writers.as_slice() {
                [] => kv(
                    &mut out,
                    "writes Secrets with",
                    "unknown (several providers wrote since the apiserver started, or none)",
                ),
                writers => {
                    for w in writers {
                        kv(&mut out, "writes Secrets with", &w.provider());
                    }
                }
            }
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
                for weakening in &w.weakened {
                    out.push_str(&format!("  {} weakened: {weakening}\n", w.webhook));
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
            let carry = format!(
                "{}/{} Secrets carry {}={}",
                p.done, p.total, p.annotation, p.time
            );
            match p.rewritten {
                Rewritten::Rewrapped => kv(
                    &mut out,
                    "rewritten",
                    &format!("{carry} (re-wrapped by the current key version)"),
                ),
                Rewritten::AnnotatedOnly => kv(
                    &mut out,
                    "annotated only",
                    &format!(
                        "{carry}; not re-wrapped: their seed is still wrapped by the old key version"
                    ),
                ),
                Rewritten::Unknown => kv(
                    &mut out,
                    "annotated",
                    &format!("{carry}; whether re-wrapped by the current key version is unknown"),
                ),
            }
        }
        (None, Some(e)) => err(&mut out, e),
        _ => {}
    }

    section(&mut out, "Rotation (what a rewrite moves here)");
    match (&r.rotation.value, &r.rotation.error) {
        (Some(reach), _) => {
            kv(&mut out, "layout", &reach.reach.layout());
            kv(
                &mut out,
                "moves secrets",
                match reach.moves {
                    Moves::Yes => "yes",
                    Moves::NotYet => "not yet",
                    Moves::No => "no: a rewrite annotates only",
                    Moves::Unknown => "unknown",
                },
            );
            if let Some(seen) = reach.reach.apiservers_seen() {
                kv(
                    &mut out,
                    "apiservers seen",
                    &format!(
                        "{} ({} with the current key version)",
                        seen.len(),
                        seen.iter().filter(|a| a.current).count()
                    ),
                );
            }
            kv(&mut out, "why", &reach.explanation);
        }
        (None, Some(e)) => err(&mut out, e),
        _ => {}
    }

    if let Some(etcd) = &r.etcd {
        section(&mut out, "Stored Secrets (etcd)");
        match (&etcd.value, &etcd.error) {
            (Some(c), _) => {
                let mut t = Table::new(&["provider", "name", "key id", "key version", "secrets"]);
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
                        if e.envelope.key_version.is_empty() {
                            "-".into()
                        } else {
                            e.envelope.key_version.clone()
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
        if let Some(fix) = &f.fix {
            out.push_str(&format!("{:17}fix: {fix}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use secretkms_core::secret_encryption::Enforcement;

    use super::*;
    use crate::status::Part;

    fn applied(yaml: &str) -> SecretEncryption {
        serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}: {yaml}"))
    }

    #[test]
    fn the_suggested_secret_encryption_carries_the_declared_defaults() {
        let se = applied(&new_secret_encryption(None));
        assert_eq!(se.metadata.name.as_deref(), Some(CLUSTER));
        assert_eq!(se.spec.key, KEY_PLACEHOLDER);
        let defaults: SecretEncryptionSpec =
            serde_json::from_str(r#"{"key": "<key id, alias/... or ARN>"}"#).unwrap();
        assert_eq!(se.spec, defaults);
        assert_eq!(se.spec.enforcement, Enforcement::Enforce);
    }

    #[test]
    fn a_known_key_fills_in_its_arn_and_region() {
        let key = KeyFacts {
            key_id: "key-1".into(),
            arn: Some("acs:kms:cn-hangzhou:123:key/key-1".into()),
            region: Some("cn-hangzhou".into()),
            ..Default::default()
        };
        let se = applied(&new_secret_encryption(Some(&key)));
        assert_eq!(se.spec.key, "acs:kms:cn-hangzhou:123:key/key-1");
        assert_eq!(se.spec.region.as_deref(), Some("cn-hangzhou"));
    }

    #[test]
    fn status_without_a_secret_encryption_prints_one_to_apply() {
        let report = StatusReport {
            kind: "SecretKmsStatus",
            declared: Part::none(),
            key: Part::none(),
            apiserver: Part::none(),
            webhooks: Part::none(),
            policy: Part::none(),
            rewrite: Part::none(),
            rotation: Part::none(),
            etcd: None,
            findings: Vec::new(),
            healthy: true,
        };
        let screen = render(&report, Style::default());
        let declared = screen.split("\n\n").next().unwrap_or_default().to_string();
        let yaml: String = declared
            .lines()
            .skip_while(|l| !l.contains("kubectl apply -f this"))
            .skip(1)
            .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
            .collect();
        let se = applied(&yaml);
        assert_eq!(se.spec.required_key_spec, "Aliyun_AES_256", "{declared}");
    }
}
