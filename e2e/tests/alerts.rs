//! The chart's alerts, evaluated by Prometheus' own promtool (built from the Go module proxy by
//! `hack/control-plane-bins.sh promtool`, cached): `promtool check rules` on the PrometheusRule
//! the chart renders, and `promtool test rules` with synthetic series for each alert
//! (`tests/alerts/secretkms.test.yaml`), in which every alert both fires and stays quiet.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use secretkms_e2e::chart::{Rendered, chart_dir, dashboard};
use secretkms_e2e::{Binaries, Tool, repo_root};
use serde_json::Value;

/// The release and namespace the unit tests' series are labelled with.
const RELEASE: &str = "rel";
const NAMESPACE: &str = "secretkms-system";

fn unit_tests() -> PathBuf {
    repo_root().join("e2e/tests/alerts/secretkms.test.yaml")
}

/// The chart rendered by the harness's helm with a key and `values` (`--set` pairs).
fn render(values: &[&str]) -> Rendered {
    let helm = Binaries::get().expect("control-plane binaries").helm();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(&helm);
    cmd.args(["template", RELEASE])
        .arg(chart_dir())
        .args(["--namespace", NAMESPACE])
        .args(["--set", "secretEncryption.key=alias/k8s-secrets"]);
    for v in values {
        cmd.args(["--set", v]);
    }
    let out = cmd
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", helm.display()));
    assert!(out.status.success(), "helm template: {}", text(&out));
    Rendered::parse(&String::from_utf8_lossy(&out.stdout)).unwrap()
}

/// The chart's PrometheusRule spec (its rule groups), rendered with the alerts on.
fn rendered_rule_groups(extra: &[&str]) -> Value {
    let mut values = vec!["metrics.prometheusRule.enabled=true"];
    values.extend_from_slice(extra);
    render(&values).one("PrometheusRule", None).unwrap()["spec"].clone()
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A directory with `rules.yaml` (the groups) and the unit tests beside it, as the tests'
/// `rule_files` expects.
fn workdir(groups: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_yaml::to_string(groups).unwrap(),
    )
    .unwrap();
    std::fs::copy(unit_tests(), dir.path().join("secretkms.test.yaml")).unwrap();
    dir
}

fn promtool(dir: &Path, args: &[&str]) -> Output {
    let promtool = Tool::Promtool.bin("promtool").expect("promtool");
    Command::new(&promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", promtool.display()))
}

fn alert_names(groups: &Value) -> Vec<String> {
    groups["groups"]
        .as_array()
        .expect("rule groups")
        .iter()
        .flat_map(|g| g["rules"].as_array().expect("rules").iter())
        .filter_map(|r| r["alert"].as_str().map(str::to_string))
        .collect()
}

/// Every rule of the rendered groups, changed by `edit`.
fn edit_rules(groups: &Value, edit: impl Fn(&mut serde_json::Map<String, Value>)) -> Value {
    let mut groups = groups.clone();
    for g in groups["groups"].as_array_mut().unwrap() {
        for r in g["rules"].as_array_mut().unwrap() {
            edit(r.as_object_mut().unwrap());
        }
    }
    groups
}

#[test]
fn the_rendered_rules_pass_promtool_check_and_every_alert_unit_test() {
    let groups = rendered_rule_groups(&[]);
    let dir = workdir(&groups);

    let check = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(
        check.status.success(),
        "promtool check rules: {}",
        text(&check)
    );
    let tested = promtool(dir.path(), &["test", "rules", "secretkms.test.yaml"]);
    assert!(
        tested.status.success(),
        "promtool test rules: {}",
        text(&tested)
    );
    println!("{}", text(&tested));
}

#[test]
fn every_alert_has_a_case_where_it_fires_and_one_where_it_is_quiet() {
    let names = alert_names(&rendered_rule_groups(&[]));
    assert!(
        names
            .iter()
            .any(|n| n == "SecretKmsSecretsWrittenWithoutKms"),
        "the plaintext-writes alert is rendered: {names:?}"
    );
    let tests: Value =
        serde_yaml::from_str(&std::fs::read_to_string(unit_tests()).unwrap()).unwrap();
    // alert name -> (cases where it fires, cases where it is quiet)
    let mut seen: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for case in tests["tests"].as_array().unwrap() {
        for t in case["alert_rule_test"].as_array().unwrap() {
            let name = t["alertname"].as_str().unwrap().to_string();
            let entry = seen.entry(name).or_default();
            match t["exp_alerts"].as_array().map(Vec::len) {
                Some(0) | None => entry.1 += 1,
                Some(_) => entry.0 += 1,
            }
        }
    }
    for name in &names {
        let (fires, quiet) = seen.get(name).copied().unwrap_or_default();
        assert!(
            fires > 0 && quiet > 0,
            "{name}: {fires} firing and {quiet} quiet cases in {}; each alert needs both",
            unit_tests().display()
        );
    }
    let unknown: Vec<&String> = seen.keys().filter(|n| !names.contains(n)).collect();
    assert!(
        unknown.is_empty(),
        "tests name no rendered alert: {unknown:?}"
    );
}

/// The unit tests can fail: without its `for` an alert fires during what the tests call its
/// pending time, and with an expression that never holds no alert fires.
#[test]
fn the_unit_tests_catch_alerts_that_fire_early_or_never() {
    let groups = rendered_rule_groups(&[]);
    let mutations: [(&str, Value); 2] = [
        (
            "without `for`",
            edit_rules(&groups, |r| {
                r.remove("for");
            }),
        ),
        (
            "never true",
            edit_rules(&groups, |r| {
                r.insert("expr".into(), Value::String("vector(1) > 1".into()));
            }),
        ),
    ];
    for (what, mutated) in mutations {
        let dir = workdir(&mutated);
        let out = promtool(dir.path(), &["test", "rules", "secretkms.test.yaml"]);
        assert!(
            !out.status.success(),
            "alerts {what} still pass the unit tests: {}",
            text(&out)
        );
    }
}

/// With failurePolicy Fail, the webhook-down alert says writes are rejected, not admitted.
#[test]
fn the_webhook_down_alert_names_the_failure_policy() {
    let groups = rendered_rule_groups(&["webhook.failurePolicy=Fail"]);
    let down = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
        .find(|r| r["alert"] == "SecretKmsWebhookDown")
        .expect("SecretKmsWebhookDown is rendered");
    let description = down["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains("With failurePolicy Fail, Secret writes are rejected"),
        "{description}"
    );
}

/// The dashboard's queries are PromQL promtool accepts: written as recording rules, one per
/// panel query, `promtool check rules` parses each; and the chart ships the file unchanged.
#[test]
fn the_dashboards_queries_pass_promtool_check_and_the_chart_ships_it() {
    let queries = dashboard::queries().unwrap();
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| serde_json::json!({ "record": format!("dashboard:query_{i}"), "expr": q.expr }))
        .collect();
    let groups = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let dir = workdir(&groups);
    let out = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(out.status.success(), "promtool check rules: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("{} rules found", queries.len())),
        "{}",
        text(&out)
    );

    // The ConfigMap the chart renders carries the same dashboard, labelled for the sidecar.
    let rendered = render(&["metrics.grafanaDashboard.enabled=true"]);
    let cm = rendered
        .one("ConfigMap", Some(&format!("{RELEASE}-secretkms-dashboard")))
        .unwrap();
    assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
    let shipped = cm["data"]["secretkms.json"].as_str().unwrap();
    assert_eq!(dashboard::queries_of(shipped).unwrap(), queries);
}
