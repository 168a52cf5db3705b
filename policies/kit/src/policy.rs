//! The [`Policy`] trait and the glue around it: settings parsing with errors that name the field,
//! request parsing, and [`export_policy!`](crate::export_policy), which turns a `Policy` into the
//! component's exports.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::{AdmissionRequest, EncryptionState, KeyLookup, Verdict};

/// One admission policy: pure decision logic over the request, the state and its settings.
pub trait Policy {
    /// The policy's settings (JSON). Absent or empty settings mean `Default`; derive
    /// `Deserialize` with `deny_unknown_fields` so typos fail at load time.
    type Settings: DeserializeOwned + Default;

    /// Checks beyond the settings' shape (ranges, non-empty strings). The default accepts all.
    fn check_settings(_settings: &Self::Settings) -> Result<(), SettingsError> {
        Ok(())
    }

    /// Decides on one request.
    fn validate(
        request: &AdmissionRequest<'_>,
        state: &EncryptionState,
        settings: &Self::Settings,
        keys: &dyn KeyLookup,
    ) -> Verdict;
}

/// Invalid settings; `field` is the JSON path of the offending field (`.` for the whole text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    pub field: String,
    pub message: String,
}

impl SettingsError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() || self.field == "." {
            write!(f, "invalid settings: {}", self.message)
        } else {
            write!(
                f,
                "invalid settings field `{}`: {}",
                self.field, self.message
            )
        }
    }
}

impl std::error::Error for SettingsError {}

/// Parses settings JSON; empty text or `null` gives the defaults.
pub fn parse_settings<S: DeserializeOwned + Default>(text: &str) -> Result<S, SettingsError> {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "null" {
        return Ok(S::default());
    }
    let mut de = serde_json::Deserializer::from_str(trimmed);
    let settings = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        SettingsError::new(field, e.into_inner().to_string())
    })?;
    de.end()
        .map_err(|e| SettingsError::new(".", e.to_string()))?;
    Ok(settings)
}

/// The `validate-settings` export: shape and [`Policy::check_settings`].
pub fn validate_settings<P: Policy>(text: &str) -> Result<(), String> {
    let settings = parse_settings::<P::Settings>(text).map_err(|e| e.to_string())?;
    P::check_settings(&settings).map_err(|e| e.to_string())
}

/// The `validate` export: parses settings and request, then asks the policy.
///
/// Settings that fail to parse (the host should have refused them at load time) deny with 500;
/// a request that fails to parse denies with 400. Both messages say what could not be read.
pub fn evaluate<P: Policy>(
    request_json: &str,
    state: &EncryptionState,
    settings_json: &str,
    keys: &dyn KeyLookup,
) -> Verdict {
    let settings = match parse_settings::<P::Settings>(settings_json)
        .and_then(|s| P::check_settings(&s).map(|()| s))
    {
        Ok(s) => s,
        Err(e) => return Verdict::deny(500, format!("secretkms policy misconfigured: {e}")),
    };
    let request = match AdmissionRequest::parse(request_json) {
        Ok(r) => r,
        Err(e) => return Verdict::deny(400, format!("cannot read the AdmissionRequest: {e}")),
    };
    P::validate(&request, state, &settings, keys)
}

/// Exports a [`Policy`] as the component's `validate` and `validate-settings`:
///
/// ```ignore
/// pub struct SecretWriteGuard;
/// impl secretkms_policy_kit::Policy for SecretWriteGuard { /* ... */ }
/// secretkms_policy_kit::export_policy!(SecretWriteGuard);
/// ```
///
/// The expansion exists only when compiling for `wasm32`, so native unit tests never touch the
/// host import.
#[macro_export]
macro_rules! export_policy {
    ($policy:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            struct __SecretkmsPolicyExport;

            impl $crate::bindings::Guest for __SecretkmsPolicyExport {
                fn validate(
                    request: ::std::string::String,
                    state: $crate::EncryptionState,
                    settings: ::std::string::String,
                ) -> $crate::Verdict {
                    $crate::evaluate::<$policy>(
                        &request,
                        &state,
                        &settings,
                        &$crate::key_lookup::HostKeys,
                    )
                }

                fn validate_settings(
                    settings: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::validate_settings::<$policy>(&settings)
                }
            }

            $crate::bindings::__export_policy_world!(
                __SecretkmsPolicyExport with_types_in $crate::bindings
            );
        };
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    fn no_keys(key: &str) -> Result<crate::KeyFacts, String> {
        Err(format!("no key {key}"))
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase", default)]
    struct S {
        max_age: Option<u64>,
        names: Vec<String>,
    }

    struct P;
    impl Policy for P {
        type Settings = S;
        fn check_settings(s: &S) -> Result<(), SettingsError> {
            match s.max_age {
                Some(0) => Err(SettingsError::new("maxAge", "must be at least 1")),
                _ => Ok(()),
            }
        }
        fn validate(
            r: &AdmissionRequest<'_>,
            _: &EncryptionState,
            s: &S,
            _: &dyn KeyLookup,
        ) -> Verdict {
            Verdict::deny(403, format!("{} {}", r.operation, s.names.len()))
        }
    }

    #[test]
    fn empty_settings_are_defaults() {
        assert!(parse_settings::<S>("").unwrap().names.is_empty());
        assert!(parse_settings::<S>(" null ").is_ok());
    }

    #[test]
    fn settings_errors_name_the_field() {
        let e = parse_settings::<S>(r#"{"maxAge": "ten"}"#).unwrap_err();
        assert_eq!(e.field, "maxAge");
        assert!(e.to_string().contains("`maxAge`"), "{e}");
        let e = parse_settings::<S>(r#"{"maxAgeSeconds": 1}"#).unwrap_err();
        assert!(
            e.to_string().contains("unknown field `maxAgeSeconds`"),
            "{e}"
        );
        let e = parse_settings::<S>(r#"{"names": ["a", 3]}"#).unwrap_err();
        assert_eq!(e.field, "names[1]");
        let e = validate_settings::<P>(r#"{"maxAge": 0}"#).unwrap_err();
        assert_eq!(e, "invalid settings field `maxAge`: must be at least 1");
        assert!(parse_settings::<S>("{} x").is_err());
    }

    #[test]
    fn evaluate_reports_unreadable_inputs() {
        let state = EncryptionState::empty(0);
        let v = evaluate::<P>("{", &state, "", &no_keys);
        assert_eq!((v.allowed, v.code), (false, 400));
        assert!(
            v.message.starts_with("cannot read the AdmissionRequest"),
            "{}",
            v.message
        );
        let v = evaluate::<P>("{}", &state, r#"{"bogus":1}"#, &no_keys);
        assert_eq!((v.allowed, v.code), (false, 500));
        let req = r#"{"kind":{"group":"","version":"v1","kind":"Secret"},"operation":"UPDATE"}"#;
        let v = evaluate::<P>(req, &state, r#"{"names":["a"]}"#, &no_keys);
        assert_eq!(v.message, "UPDATE 1");
    }
}
