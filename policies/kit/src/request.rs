//! A typed, borrowing view of the AdmissionRequest JSON (the `request` field of an
//! AdmissionReview), holding only what policies decide on.
//!
//! Secret values never enter this view: `data` and `stringData` are not fields here, so serde
//! skips them without keeping them, and the `kubectl.kubernetes.io/last-applied-configuration`
//! annotation (which repeats a Secret's data) is dropped while parsing. Nothing a policy can echo
//! holds a Secret value.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use secretkms_model::defaults;
use serde::Deserialize;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// The annotation `kubectl apply` writes; for a Secret it contains the Secret's data.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The AdmissionRequest, borrowing strings from the JSON text where they need no unescaping.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest<'a> {
    #[serde(borrow, default)]
    pub uid: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: GroupVersionKind<'a>,
    #[serde(borrow, default)]
    pub resource: Option<GroupVersionResource<'a>>,
    #[serde(borrow, default)]
    pub sub_resource: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub namespace: Option<Cow<'a, str>>,
    pub operation: Operation,
    #[serde(borrow, default)]
    pub user_info: UserInfo<'a>,
    #[serde(borrow, default)]
    pub object: Option<ObjectView<'a>>,
    #[serde(borrow, default)]
    pub old_object: Option<ObjectView<'a>>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

impl<'a> AdmissionRequest<'a> {
    /// Parses the request JSON. Errors name the position and the expected type, never a value of
    /// a field this view does not keep.
    pub fn parse(json: &'a str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// True for `group/version/kind` exactly (core group is `""`).
    pub fn is_kind(&self, group: &str, version: &str, kind: &str) -> bool {
        self.kind.group == group && self.kind.version == version && self.kind.kind == kind
    }

    /// The object's namespace: the request's, else the object's own metadata.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .or_else(|| {
                self.current_object()
                    .and_then(|o| o.metadata.namespace.as_deref())
            })
    }

    /// The object's name: the request's, else the object's metadata (generateName-created
    /// objects have none yet).
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref().filter(|n| !n.is_empty()).or_else(|| {
            self.current_object()
                .and_then(|o| o.metadata.name.as_deref())
        })
    }

    /// `object`, or `oldObject` on DELETE (where `object` is null).
    pub fn current_object(&self) -> Option<&ObjectView<'a>> {
        self.object.as_ref().or(self.old_object.as_ref())
    }

    /// `namespace/name` (or just the name for cluster-scoped objects), for messages.
    pub fn display_name(&self) -> String {
        let name = self.name().unwrap_or("<generated name>");
        match self.namespace() {
            Some(ns) => format!("{ns}/{name}"),
            None => name.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind<'a> {
    #[serde(borrow, default)]
    pub group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub version: Cow<'a, str>,
    #[serde(borrow, default)]
    pub kind: Cow<'a, str>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionResource<'a> {
    #[serde(borrow, default)]
    pub group: Cow<'a, str>,
    #[serde(borrow, default)]
    pub version: Cow<'a, str>,
    #[serde(borrow, default)]
    pub resource: Cow<'a, str>,
}

/// The admission operation; anything else the apiserver may add later is [`Operation::Other`].
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
    #[serde(other)]
    Other,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "CREATE",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Other => "OTHER",
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInfo<'a> {
    #[serde(borrow, default)]
    pub username: Cow<'a, str>,
}

/// An object in the request: its metadata, and its `spec` kept as raw JSON until a policy asks
/// for it as a type it knows (see [`ObjectView::secret_encryption_spec`]). Every other member
/// (a Secret's `data`, `type`, `immutable`) is kept only as [`Unshown`], to tell whether an
/// update changed it.
#[derive(Debug, Clone, Default)]
pub struct ObjectView<'a> {
    pub metadata: ObjectMeta<'a>,
    pub spec: Option<&'a RawValue>,
    rest: Unshown<'a>,
}

impl ObjectView<'_> {
    /// The `spec` of a SecretEncryption object; `Ok(None)` when the object has no spec.
    pub fn secret_encryption_spec(
        &self,
    ) -> Result<Option<SecretEncryptionSpec>, serde_json::Error> {
        self.spec
            .map(|raw| serde_json::from_str(raw.get()))
            .transpose()
    }

    /// The value of annotation `key`, if present.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata.annotations.0.get(key).map(|v| v.as_ref())
    }

    /// True when this object differs from `old` in nothing but its finalizers, apart from what
    /// the apiserver itself maintains (`resourceVersion`, `managedFields`, `generation`): no
    /// data, label, annotation (including `last-applied-configuration`) or other member
    /// changed. Compares the JSON text, which the apiserver encodes alike for both objects.
    pub fn differs_only_in_finalizers(&self, old: &ObjectView<'_>) -> bool {
        let (new_meta, old_meta) = (&self.metadata, &old.metadata);
        new_meta.name == old_meta.name
            && new_meta.namespace == old_meta.namespace
            && new_meta.labels == old_meta.labels
            && new_meta.annotations == old_meta.annotations
            && new_meta.deletion_timestamp == old_meta.deletion_timestamp
            && new_meta.deletion_grace_period_seconds == old_meta.deletion_grace_period_seconds
            && new_meta.rest == old_meta.rest
            && self.spec.map(RawValue::get) == old.spec.map(RawValue::get)
            && self.rest == old.rest
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ObjectView<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ObjectVisitor<'a> {
            type Value = ObjectView<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = ObjectView::default();
                while let Some(BorrowedCow(key)) = map.next_key::<BorrowedCow<'de>>()? {
                    match key.as_ref() {
                        "metadata" => {
                            out.metadata = map
                                .next_value::<Option<ObjectMeta<'de>>>()?
                                .unwrap_or_default()
                        }
                        "spec" => out.spec = map.next_value::<Option<&'de RawValue>>()?,
                        _ => out.rest.push(key, map.next_value()?),
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_map(ObjectVisitor(std::marker::PhantomData))
    }
}

/// The object's metadata that policies read, plus the rest of it as [`Unshown`].
#[derive(Debug, Clone, Default)]
pub struct ObjectMeta<'a> {
    pub name: Option<Cow<'a, str>>,
    pub namespace: Option<Cow<'a, str>>,
    pub labels: BTreeMap<Cow<'a, str>, Cow<'a, str>>,
    pub annotations: Annotations<'a>,
    pub finalizers: Vec<Cow<'a, str>>,
    /// Set once a delete was requested; while finalizers remain the object stays.
    pub deletion_timestamp: Option<Cow<'a, str>>,
    pub deletion_grace_period_seconds: Option<i64>,
    rest: Unshown<'a>,
}

impl ObjectMeta<'_> {
    /// Metadata the apiserver rewrites on every update by itself, so a change there says
    /// nothing about what the writer changed.
    const MAINTAINED_BY_THE_APISERVER: &'static [&'static str] =
        &["resourceVersion", "managedFields", "generation"];
}

impl<'de: 'a, 'a> Deserialize<'de> for ObjectMeta<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MetaVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for MetaVisitor<'a> {
            type Value = ObjectMeta<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("object metadata")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = ObjectMeta::default();
                while let Some(BorrowedCow(key)) = map.next_key::<BorrowedCow<'de>>()? {
                    match key.as_ref() {
                        "name" => {
                            out.name = map.next_value::<Option<BorrowedCow<'de>>>()?.map(|c| c.0)
                        }
                        "namespace" => {
                            out.namespace =
                                map.next_value::<Option<BorrowedCow<'de>>>()?.map(|c| c.0)
                        }
                        "labels" => {
                            out.labels = map
                                .next_value::<Option<Labels<'de>>>()?
                                .map(|l| l.0)
                                .unwrap_or_default()
                        }
                        "annotations" => out.annotations = map.next_value()?,
                        "finalizers" => {
                            out.finalizers = map
                                .next_value::<Option<Vec<BorrowedCow<'de>>>>()?
                                .unwrap_or_default()
                                .into_iter()
                                .map(|c| c.0)
                                .collect()
                        }
                        "deletionTimestamp" => {
                            out.deletion_timestamp =
                                map.next_value::<Option<BorrowedCow<'de>>>()?.map(|c| c.0)
                        }
                        "deletionGracePeriodSeconds" => {
                            out.deletion_grace_period_seconds = map.next_value()?
                        }
                        k if ObjectMeta::MAINTAINED_BY_THE_APISERVER.contains(&k) => {
                            map.next_value::<IgnoredAny>()?;
                        }
                        _ => out.rest.push(key, map.next_value()?),
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_map(MetaVisitor(std::marker::PhantomData))
    }
}

#[derive(Deserialize)]
struct Labels<'a>(#[serde(borrow)] BTreeMap<Cow<'a, str>, Cow<'a, str>>);

/// Members of the request's JSON that a policy may compare but never read: their text borrows
/// from the request and is neither shown (`Debug` prints only how many there are) nor handed
/// out, so a Secret's values can be told apart without a policy being able to echo them.
#[derive(Clone, Default)]
pub struct Unshown<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Unshown<'a> {
    fn push(&mut self, key: Cow<'a, str>, value: &'a RawValue) {
        self.0.push((key, value));
    }
}

impl PartialEq for Unshown<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|((ka, va), (kb, vb))| ka == kb && va.get() == vb.get())
    }
}

impl Eq for Unshown<'_> {}

impl fmt::Debug for Unshown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unshown({} members)", self.0.len())
    }
}

/// Annotations without `kubectl.kubernetes.io/last-applied-configuration`, whose value is kept
/// only as [`Unshown`] because it repeats a Secret's data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Annotations<'a>(pub BTreeMap<Cow<'a, str>, Cow<'a, str>>, Unshown<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AnnotationsVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for AnnotationsVisitor<'a> {
            type Value = Annotations<'a>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of annotation strings or null")
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Annotations::default())
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Annotations::default();
                while let Some(BorrowedCow(key)) = map.next_key::<BorrowedCow<'de>>()? {
                    if key == LAST_APPLIED_ANNOTATION {
                        out.1.push(key, map.next_value()?);
                    } else {
                        let value = map.next_value::<BorrowedCow<'de>>()?;
                        out.0.insert(key, value.0);
                    }
                }
                Ok(out)
            }
        }

        deserializer.deserialize_any(AnnotationsVisitor(std::marker::PhantomData))
    }
}

/// `Cow<str>` that borrows when it can (serde's own `Cow` impl always allocates).
struct BorrowedCow<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for BorrowedCow<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wrap<'a>(#[serde(borrow)] Cow<'a, str>);
        Wrap::deserialize(deserializer).map(|w| BorrowedCow(w.0))
    }
}

/// Enforcement mode of the SecretEncryption resource.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Enforcement {
    #[default]
    Enforce,
    Audit,
}

/// `spec` of the cluster-scoped `SecretEncryption` (group `secretkms.io`, v1alpha1), with the
/// model's defaults; unknown fields are the CRD schema's business.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct SecretEncryptionSpec {
    pub provider: String,
    pub key: String,
    pub region: Option<String>,
    pub endpoint: Option<String>,
    pub required_key_spec: String,
    pub enforcement: Enforcement,
    pub exempt_namespaces: Vec<String>,
    pub max_state_age_seconds: Option<u64>,
}

impl Default for SecretEncryptionSpec {
    fn default() -> Self {
        Self {
            provider: defaults::PROVIDER.into(),
            key: String::new(),
            region: None,
            endpoint: None,
            required_key_spec: defaults::KEY_SPEC.into(),
            enforcement: Enforcement::Enforce,
            exempt_namespaces: Vec::new(),
            max_state_age_seconds: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET_CREATE: &str = r#"{
        "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
        "kind": {"group": "", "version": "v1", "kind": "Secret"},
        "resource": {"group": "", "version": "v1", "resource": "secrets"},
        "namespace": "team-a",
        "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
        "object": {
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "team-a", "labels": {"app": "db"},
                "annotations": {
                    "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"c2VjcmV0LXZhbHVlLXNob3VsZC1uZXZlci1sZWFr\"}}",
                    "owner": "team-a"
                }},
            "data": {"password": "c2VjcmV0LXZhbHVlLXNob3VsZC1uZXZlci1sZWFr"},
            "stringData": {"token": "plain-secret-should-never-leak"},
            "type": "Opaque"
        },
        "oldObject": null,
        "dryRun": false
    }"#;

    #[test]
    fn parses_a_secret_create_without_keeping_values() {
        let req = AdmissionRequest::parse(SECRET_CREATE).unwrap();
        assert!(req.is_kind("", "v1", "Secret"));
        assert_eq!(req.operation, Operation::Create);
        assert_eq!(req.namespace(), Some("team-a"));
        assert_eq!(req.name(), Some("db"));
        assert_eq!(req.display_name(), "team-a/db");
        assert_eq!(req.user_info.username, "alice");
        assert_eq!(req.dry_run, Some(false));
        let obj = req.object.as_ref().unwrap();
        assert_eq!(obj.annotation("owner"), Some("team-a"));
        assert_eq!(obj.annotation(LAST_APPLIED_ANNOTATION), None);
        let dump = format!("{req:?}");
        assert!(!dump.contains("c2VjcmV0"), "secret value kept: {dump}");
        assert!(!dump.contains("plain-secret"), "secret value kept: {dump}");
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let req = AdmissionRequest::parse(SECRET_CREATE).unwrap();
        assert!(matches!(req.uid, Cow::Borrowed(_)));
        let meta = &req.object.as_ref().unwrap().metadata;
        assert!(matches!(
            meta.annotations.0.get("owner"),
            Some(Cow::Borrowed(_))
        ));
    }

    /// A Secret being deleted, as the apiserver sends it, with `edit` applied to the JSON.
    fn deleting_secret(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut v = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {
                "name": "db", "namespace": "team-a", "resourceVersion": "41",
                "uid": "5c1c", "labels": {"app": "db"},
                "annotations": {"owner": "team-a", LAST_APPLIED_ANNOTATION: "{\"data\":{\"p\":\"c2VjcmV0\"}}"},
                "finalizers": ["example.com/backup", "example.com/audit"],
                "deletionTimestamp": "2026-12-02T06:00:00Z", "deletionGracePeriodSeconds": 0,
                "managedFields": [{"manager": "kubectl", "time": "2026-12-02T05:00:00Z"}]
            },
            "data": {"password": "c2VjcmV0LXZhbHVl"},
            "type": "Opaque"
        });
        edit(&mut v);
        v.to_string()
    }

    fn view(json: &str) -> ObjectView<'_> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_finalizer_removal_is_told_from_any_other_change() {
        let old = deleting_secret(|_| {});
        let removed = deleting_secret(|v| {
            v["metadata"]["finalizers"] = serde_json::json!(["example.com/audit"]);
            v["metadata"]["resourceVersion"] = "42".into();
            v["metadata"]["managedFields"][0]["time"] = "2026-12-02T06:01:00Z".into();
        });
        assert!(view(&removed).differs_only_in_finalizers(&view(&old)));
        assert_eq!(view(&removed).metadata.finalizers, ["example.com/audit"]);
        assert!(view(&old).metadata.deletion_timestamp.is_some());

        type Edit = fn(&mut serde_json::Value);
        let edits: [(&str, Edit); 5] = [
            ("data", |v| v["data"]["password"] = "b3RoZXI=".into()),
            ("type", |v| v["type"] = "kubernetes.io/tls".into()),
            ("label", |v| v["metadata"]["labels"]["app"] = "web".into()),
            ("last-applied", |v| {
                v["metadata"]["annotations"][LAST_APPLIED_ANNOTATION] = "{}".into()
            }),
            ("ownerReferences", |v| {
                v["metadata"]["ownerReferences"] = serde_json::json!([{"uid": "x"}])
            }),
        ];
        for (what, edit) in edits {
            let changed = deleting_secret(|v| {
                v["metadata"]["finalizers"] = serde_json::json!([]);
                edit(v);
            });
            assert!(
                !view(&changed).differs_only_in_finalizers(&view(&old)),
                "a {what} change is more than a finalizer removal"
            );
        }
    }

    #[test]
    fn compared_members_are_never_shown() {
        let old = deleting_secret(|_| {});
        let dump = format!("{:?}", view(&old));
        assert!(!dump.contains("c2VjcmV0"), "secret value shown: {dump}");
    }

    #[test]
    fn delete_uses_old_object() {
        let json = r#"{"uid":"u","kind":{"group":"secretkms.io","version":"v1alpha1","kind":"SecretEncryption"},
            "name":"cluster","operation":"DELETE","userInfo":{"username":"bob"},
            "object":null,
            "oldObject":{"metadata":{"name":"cluster","annotations":{"secretkms.io/force":"true"}},
                         "spec":{"key":"alias/k8s","enforcement":"audit","exemptNamespaces":["kube-system"]}}}"#;
        let req = AdmissionRequest::parse(json).unwrap();
        assert_eq!(req.operation, Operation::Delete);
        assert_eq!(req.namespace(), None);
        assert_eq!(req.display_name(), "cluster");
        let obj = req.current_object().unwrap();
        assert_eq!(obj.annotation("secretkms.io/force"), Some("true"));
        let spec = obj.secret_encryption_spec().unwrap().unwrap();
        assert_eq!(spec.key, "alias/k8s");
        assert_eq!(spec.enforcement, Enforcement::Audit);
        assert_eq!(spec.required_key_spec, "Aliyun_AES_256");
        assert_eq!(spec.provider, "alibaba-kms");
        assert_eq!(spec.exempt_namespaces, ["kube-system"]);
    }

    #[test]
    fn unknown_operations_and_null_annotations_parse() {
        let json = r#"{"kind":{"group":"","version":"v1","kind":"Secret"},"operation":"PATCH",
            "object":{"metadata":{"name":"x","annotations":null}}}"#;
        let req = AdmissionRequest::parse(json).unwrap();
        assert_eq!(req.operation, Operation::Other);
        assert!(req.object.unwrap().metadata.annotations.0.is_empty());
    }

    #[test]
    fn a_bad_spec_field_is_an_error_naming_the_problem() {
        let json = r#"{"kind":{"group":"secretkms.io","version":"v1alpha1","kind":"SecretEncryption"},
            "operation":"CREATE","object":{"metadata":{"name":"cluster"},"spec":{"enforcement":"loud"}}}"#;
        let req = AdmissionRequest::parse(json).unwrap();
        let err = req.object.unwrap().secret_encryption_spec().unwrap_err();
        assert!(err.to_string().contains("unknown variant `loud`"), "{err}");
    }
}
