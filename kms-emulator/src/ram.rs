//! The emulator's RAM (2015-05-01): `GetRole`, `ListPoliciesForRole` and `ListPoliciesForUser`
//! over the account model, with RAM's answer shapes and `EntityNotExist.*` errors.

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::account::{Account, numeric_id, policy_type};
use crate::api_error::ApiError;
use crate::params::Params;
use secretkms_alibaba::openapi::signature::format_timestamp;

pub const RAM_VERSION: &str = "2015-05-01";

/// The trust policy of an ACK service role: the CS service may assume it.
fn trust_policy(role: &str) -> String {
    let service = if role.starts_with("AliyunCS") {
        "cs.aliyuncs.com"
    } else {
        "ecs.aliyuncs.com"
    };
    json!({
        "Statement": [{
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": { "Service": [service] },
        }],
        "Version": "1",
    })
    .to_string()
}

fn policies(names: &[String], since: &str) -> Value {
    let policy: Vec<Value> = names
        .iter()
        .map(|name| {
            json!({
                "PolicyName": name,
                "PolicyType": policy_type(name),
                "Description": "",
                "DefaultVersion": "v1",
                "AttachDate": since,
            })
        })
        .collect();
    json!({ "Policies": { "Policy": policy } })
}

/// Signed RAM actions; `since` is when the account model was loaded, the emulator's creation
/// and attach date of everything in it.
pub fn dispatch(
    account: &Account,
    since: OffsetDateTime,
    action: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    let since = format_timestamp(since);
    match action {
        "GetRole" => {
            let role = account.role(params.req("RoleName")?)?;
            Ok(json!({
                "Role": {
                    "RoleId": numeric_id("role", &role.name),
                    "RoleName": role.name,
                    "Arn": account.role_arn(&role.name),
                    "Description": role.description,
                    "AssumeRolePolicyDocument": trust_policy(&role.name),
                    "CreateDate": since,
                    "UpdateDate": since,
                    "MaxSessionDuration": 3600,
                    "IsServiceLinkedRole": false,
                }
            }))
        }
        "ListPoliciesForRole" => {
            let role = account.role(params.req("RoleName")?)?;
            Ok(policies(&role.policies, &since))
        }
        "ListPoliciesForUser" => {
            let user = account.user(params.req("UserName")?)?;
            Ok(policies(&user.policies, &since))
        }
        other => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {other:?} is not found."),
        )),
    }
}
