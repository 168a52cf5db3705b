//! Binding policies to requests, the way a ValidatingWebhookConfiguration's `rules` do: API
//! groups, versions, resources (with the `*`, `*/*`, `name/*` and `name/sub` forms) and
//! operations, matched against the decoded head of the AdmissionRequest (`resource`,
//! `subResource`, `operation`).

use serde::Deserialize;

use crate::review::RequestHead;

/// An admission operation, as the apiserver spells it; `*` means all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Operation {
    #[serde(rename = "CREATE")]
    Create,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "CONNECT")]
    Connect,
    #[serde(rename = "*")]
    All,
}

impl Operation {
    fn matches(self, operation: &str) -> bool {
        match self {
            Operation::All => true,
            Operation::Create => operation == "CREATE",
            Operation::Update => operation == "UPDATE",
            Operation::Delete => operation == "DELETE",
            Operation::Connect => operation == "CONNECT",
        }
    }
}

/// One rule: the request matches when every list has a matching entry.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Rule {
    /// API groups; `""` is the core group, `*` any.
    pub api_groups: Vec<String>,
    /// API versions; `*` any.
    pub api_versions: Vec<String>,
    /// `secrets`, `secrets/status`, `secrets/*` (all subresources), `*` (all resources, no
    /// subresources) or `*/*` (everything).
    pub resources: Vec<String>,
    pub operations: Vec<Operation>,
}

impl Rule {
    /// Builds a rule from string slices, for defaults and tests.
    pub fn new(
        groups: &[&str],
        versions: &[&str],
        resources: &[&str],
        operations: &[Operation],
    ) -> Self {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            api_groups: owned(groups),
            api_versions: owned(versions),
            resources: owned(resources),
            operations: operations.to_vec(),
        }
    }

    /// Checks the rule's shape; Err is `(field, message)` relative to the rule.
    pub(crate) fn check(&self) -> Result<(), (&'static str, String)> {
        for (field, list) in [
            ("apiGroups", &self.api_groups),
            ("apiVersions", &self.api_versions),
            ("resources", &self.resources),
        ] {
            if list.is_empty() {
                return Err((field, "must not be empty (use \"*\" for all)".to_owned()));
            }
        }
        if self.operations.is_empty() {
            return Err((
                "operations",
                "must not be empty (use \"*\" for all)".to_owned(),
            ));
        }
        if let Some(v) = self.api_versions.iter().find(|v| v.is_empty()) {
            return Err((
                "apiVersions",
                format!("invalid version {v:?}: must not be empty"),
            ));
        }
        for r in &self.resources {
            let mut parts = r.split('/');
            let main = parts.next().unwrap_or_default();
            let sub = parts.next();
            let valid_part = |p: &str| {
                p == "*"
                    || (!p.is_empty()
                        && p.bytes().all(|b| {
                            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'
                        }))
            };
            if parts.next().is_some() || !valid_part(main) || sub.is_some_and(|s| !valid_part(s)) {
                return Err((
                    "resources",
                    format!(
                        "invalid resource {r:?}: expected `name`, `name/subresource`, `name/*`, `*` or `*/*`"
                    ),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn matches(&self, head: &RequestHead<'_>) -> bool {
        let any_or = |list: &[String], value: &str| list.iter().any(|x| x == "*" || x == value);
        any_or(&self.api_groups, &head.resource.group)
            && any_or(&self.api_versions, &head.resource.version)
            && self.operations.iter().any(|op| op.matches(&head.operation))
            && self
                .resources
                .iter()
                .any(|r| resource_matches(r, &head.resource.resource, head.sub_resource()))
    }
}

fn resource_matches(rule: &str, resource: &str, sub: &str) -> bool {
    let (rule_main, rule_sub) = match rule.split_once('/') {
        Some((m, s)) => (m, s),
        None => (rule, ""),
    };
    (rule_main == "*" || rule_main == resource) && (rule_sub == "*" || rule_sub == sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::review::Review;

    fn target(json: &str) -> RequestHead<'_> {
        Review::decode_request(json).unwrap().head
    }

    const SECRET_CREATE: &str = r#"{"uid":"1","resource":{"group":"","version":"v1","resource":"secrets"},
        "operation":"CREATE","object":{"data":{"password":"c2VjcmV0"}}}"#;

    #[test]
    fn matches_group_version_resource_and_operation() {
        let rule = Rule::new(
            &[""],
            &["v1"],
            &["secrets"],
            &[Operation::Create, Operation::Update],
        );
        assert!(rule.matches(&target(SECRET_CREATE)));
        let delete = SECRET_CREATE.replace("CREATE", "DELETE");
        assert!(!rule.matches(&target(&delete)));
        let configmap = SECRET_CREATE.replace("secrets", "configmaps");
        assert!(!rule.matches(&target(&configmap)));
        let other_group = SECRET_CREATE.replace(r#""group":"""#, r#""group":"apps""#);
        assert!(!rule.matches(&target(&other_group)));
    }

    #[test]
    fn subresources_follow_webhook_rule_semantics() {
        let status =
            SECRET_CREATE.replace(r#""operation""#, r#""subResource":"status","operation""#);
        let t = target(&status);
        assert!(!Rule::new(&["*"], &["*"], &["secrets"], &[Operation::All]).matches(&t));
        assert!(!Rule::new(&["*"], &["*"], &["*"], &[Operation::All]).matches(&t));
        assert!(Rule::new(&["*"], &["*"], &["secrets/*"], &[Operation::All]).matches(&t));
        assert!(Rule::new(&["*"], &["*"], &["secrets/status"], &[Operation::All]).matches(&t));
        assert!(Rule::new(&["*"], &["*"], &["*/*"], &[Operation::All]).matches(&t));
        assert!(
            Rule::new(&["*"], &["*"], &["*"], &[Operation::All]).matches(&target(SECRET_CREATE))
        );
    }

    #[test]
    fn bad_rules_name_the_field() {
        let empty_ops = Rule::new(&[""], &["v1"], &["secrets"], &[]);
        assert_eq!(empty_ops.check().unwrap_err().0, "operations");
        let bad = Rule::new(&[""], &["v1"], &["Secrets/a/b"], &[Operation::All]);
        let (field, message) = bad.check().unwrap_err();
        assert_eq!(field, "resources");
        assert!(message.contains("Secrets/a/b"), "{message}");
    }

    #[test]
    fn unknown_operations_do_not_parse() {
        let err = serde_yaml::from_str::<Rule>(
            "apiGroups: ['']\napiVersions: [v1]\nresources: [secrets]\noperations: [PATCH]\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("PATCH"), "{err}");
    }
}
