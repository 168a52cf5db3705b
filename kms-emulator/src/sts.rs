//! The emulator's STS (2015-04-01: `AssumeRoleWithOIDC` for RRSA, `AssumeRole` for RamRoleArn
//! profiles, `GetCallerIdentity` for the signer) and ECS instance metadata; the credentials they
//! hand out are accepted by every emulated API and remember the role they were issued for.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::account::{Caller, numeric_id, role_name_of_arn};
use crate::api_error::ApiError;
use crate::params::Params;
use crate::store::uuid;
use crate::{Emulator, lock};
use secretkms_alibaba::openapi::signature::format_timestamp;

pub const STS_VERSION: &str = "2015-04-01";
/// The session name of credentials the ECS metadata endpoints hand out.
const ECS_SESSION: &str = "ecs-instance";

fn duration(params: &Params) -> Result<u64, ApiError> {
    let seconds = params.opt_u64("DurationSeconds")?.unwrap_or(3600);
    if !(900..=43_200).contains(&seconds) {
        return Err(ApiError::new(
            400,
            "InvalidParameter.DurationSeconds",
            format!("DurationSeconds {seconds} must be 900 to 43200."),
        ));
    }
    Ok(seconds)
}

fn check_role_arn(arn: &str) -> Result<(), ApiError> {
    if arn.starts_with("acs:ram::") && arn.contains(":role/") {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "InvalidParameter.RoleArn",
            format!("The parameter RoleArn {arn:?} is wrongly formed."),
        ))
    }
}

fn credentials(emu: &Emulator, role_arn: &str, session: &str, seconds: u64) -> Value {
    let role = lock(&emu.account).canonical_role_name(&role_name_of_arn(role_arn));
    let (id, cred) = lock(&emu.auth).issue_sts(seconds, &role, session);
    json!({
        "Credentials": {
            "AccessKeyId": id,
            "AccessKeySecret": cred.secret,
            "SecurityToken": cred.token,
            "Expiration": format_timestamp(cred.expiration),
        },
        "AssumedRoleUser": {
            "Arn": format!("{}/{session}", role_arn.replace(":role/", ":assumed-role/")),
            "AssumedRoleId": format!("{}:{session}", uuid().replace('-', "")),
        },
    })
}

/// Unsigned; the OIDC token stands in for a signature. The emulator accepts any non-empty
/// token (it has no cluster issuer to check against) but checks every required parameter.
pub fn assume_role_with_oidc(emu: &Emulator, params: &Params) -> Result<Value, ApiError> {
    if params.get("Version") != Some(STS_VERSION) {
        return Err(ApiError::new(
            400,
            "InvalidVersion",
            "AssumeRoleWithOIDC needs Version 2015-04-01.",
        ));
    }
    let role = params.req("RoleArn")?;
    check_role_arn(role)?;
    let provider = params.req("OIDCProviderArn")?;
    if !provider.starts_with("acs:ram::") {
        return Err(ApiError::new(
            400,
            "InvalidParameter.OIDCProviderArn",
            format!("The parameter OIDCProviderArn {provider:?} is wrongly formed."),
        ));
    }
    let token = params.req("OIDCToken")?;
    if token.split('.').count() != 3 {
        return Err(ApiError::new(
            400,
            "AuthenticationFail.OIDCToken.Invalid",
            "The OIDC token is not a JWT.",
        ));
    }
    let session = params.req("RoleSessionName")?;
    Ok(credentials(emu, role, session, duration(params)?))
}

/// GetCallerIdentity: the user or assumed role that signed the request.
fn caller_identity(emu: &Emulator, caller: &Caller) -> Value {
    let account = lock(&emu.account);
    match caller {
        Caller::User { name, .. } => {
            let id = numeric_id("user", name);
            json!({
                "AccountId": account.account_id,
                "Arn": account.user_arn(name),
                "IdentityType": "RAMUser",
                "PrincipalId": id,
                "UserId": id,
            })
        }
        Caller::AssumedRole { role, session, .. } => {
            let id = numeric_id("role", role);
            json!({
                "AccountId": account.account_id,
                "Arn": account.assumed_role_arn(role, session),
                "IdentityType": "AssumedRoleUser",
                "PrincipalId": format!("{id}:{session}"),
                "RoleId": id,
            })
        }
    }
}

/// Signed STS actions (the caller was already verified).
pub fn dispatch(
    emu: &Emulator,
    caller: &Caller,
    action: &str,
    params: &Params,
) -> Result<Value, ApiError> {
    match action {
        "GetCallerIdentity" => Ok(caller_identity(emu, caller)),
        "AssumeRole" => {
            let role = params.req("RoleArn")?;
            check_role_arn(role)?;
            let session = params.req("RoleSessionName")?;
            Ok(credentials(emu, role, session, duration(params)?))
        }
        "AssumeRoleWithOIDC" => assume_role_with_oidc(emu, params),
        other => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {other:?} is not found."),
        )),
    }
}

pub async fn imds_token() -> Response {
    (StatusCode::OK, hex::encode(rand::random::<[u8; 16]>())).into_response()
}

pub async fn region_id(State(emu): State<Arc<Emulator>>) -> Response {
    (StatusCode::OK, emu.region.clone()).into_response()
}

pub async fn role_name(State(emu): State<Arc<Emulator>>) -> Response {
    (StatusCode::OK, emu.ecs_role.clone()).into_response()
}

pub async fn role_credentials(
    State(emu): State<Arc<Emulator>>,
    Path(role): Path<String>,
) -> Response {
    if role != emu.ecs_role {
        return (
            StatusCode::NOT_FOUND,
            format!("role {role} is not attached"),
        )
            .into_response();
    }
    let (id, cred) = lock(&emu.auth).issue_sts(21_600, &emu.ecs_role, ECS_SESSION);
    let now = time::OffsetDateTime::now_utc();
    let body = json!({
        "Code": "Success",
        "AccessKeyId": id,
        "AccessKeySecret": cred.secret,
        "SecurityToken": cred.token,
        "Expiration": format_timestamp(cred.expiration),
        "LastUpdated": format_timestamp(now),
    });
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
