//! The account has authorized ACK's `AliyunCSManagedSecurityRole` (the role ACK's control plane
//! assumes to call KMS) and the role still carries its system policy: RAM GetRole, then
//! ListPoliciesForRole. A caller without `ram:GetRole` gets "could not check", not a failure.

use secretkms_alibaba::ram::{RamClient, RamError};

use crate::checklist::Check;

/// The role ACK's control plane calls KMS as.
pub const SECURITY_ROLE: &str = "AliyunCSManagedSecurityRole";
/// The system policy the role carries once authorized.
pub const SECURITY_ROLE_POLICY: &str = "AliyunCSManagedSecurityRolePolicy";

const NAME: &str = "security-role";

fn authorize() -> String {
    format!(
        "as the Alibaba Cloud account, authorize {SECURITY_ROLE} on RAM's Cloud Resource Access Authorization page (the ACK console offers it when Secret encryption is turned on)"
    )
}

pub async fn check(ram: &RamClient) -> Check {
    match ram.get_role(SECURITY_ROLE).await {
        Ok(_) => {}
        Err(RamError::RoleNotFound(_)) => {
            return Check::fail(
                NAME,
                format!("{SECURITY_ROLE} is not authorized: ACK cannot call KMS for the cluster"),
            )
            .fix(authorize());
        }
        Err(e @ RamError::NoPermission(_)) => {
            return Check::unchecked(NAME, e).fix("grant ram:GetRole and ram:ListPoliciesForRole (e.g. AliyunRAMReadOnlyAccess) to check");
        }
        Err(e) => return Check::unchecked(NAME, e),
    }
    match ram.list_policies_for_role(SECURITY_ROLE).await {
        Ok(p) if p.has(SECURITY_ROLE_POLICY, Some("System")) => Check::pass(
            NAME,
            format!("{SECURITY_ROLE} authorized, with {SECURITY_ROLE_POLICY}"),
        ),
        Ok(_) => Check::fail(
            NAME,
            format!("{SECURITY_ROLE} exists but lacks its system policy {SECURITY_ROLE_POLICY}"),
        )
        .fix(format!(
            "aliyun ram AttachPolicyToRole --PolicyType System --PolicyName {SECURITY_ROLE_POLICY} --RoleName {SECURITY_ROLE}"
        )),
        Err(e @ RamError::NoPermission(_)) => Check::warn(
            NAME,
            format!("{SECURITY_ROLE} authorized; its policies could not be checked: {e}"),
        )
        .fix("grant ram:ListPoliciesForRole to check"),
        Err(e) => Check::warn(
            NAME,
            format!("{SECURITY_ROLE} authorized; its policies could not be checked: {e}"),
        ),
    }
}
