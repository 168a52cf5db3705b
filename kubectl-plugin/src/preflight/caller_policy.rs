//! The caller holds `AliyunKMSCryptoAdminAccess` or an equivalent, as ACK requires of a RAM user
//! or role that manages Secret encryption. Who the caller is comes from STS GetCallerIdentity;
//! the policies from RAM ListPoliciesForUser (a RAM user) or ListPoliciesForRole (an assumed
//! role). The account itself holds everything. Custom policies cannot be read for their actions
//! here, so only the system policies decide; anything unreadable is "could not check".

use secretkms_alibaba::ram::{ListPoliciesResponse, RamClient, RamError};
use secretkms_alibaba::sts::{CallerIdentity, IdentityType};

use crate::checklist::Check;

/// The policy ACK names.
pub const CRYPTO_ADMIN_POLICY: &str = "AliyunKMSCryptoAdminAccess";
/// System policies that grant at least what it does.
pub const EQUIVALENT_POLICIES: [&str; 3] = [
    CRYPTO_ADMIN_POLICY,
    "AliyunKMSFullAccess",
    "AdministratorAccess",
];

const NAME: &str = "caller-kms-policy";

/// Which of the equivalent system policies `policies` holds.
pub fn equivalent(policies: &ListPoliciesResponse) -> Option<&'static str> {
    EQUIVALENT_POLICIES
        .into_iter()
        .find(|p| policies.has(p, Some("System")))
}

pub async fn check(ram: &RamClient, caller: &CallerIdentity) -> Check {
    let (whom, answer, action) = match (
        &caller.identity_type,
        caller.user_name(),
        caller.role_name(),
    ) {
        (IdentityType::Account, _, _) => {
            return Check::pass(NAME, format!("{} is the account itself", caller.arn));
        }
        (IdentityType::RamUser, Some(user), _) => (
            format!("RAM user {user}"),
            ram.list_policies_for_user(user).await,
            "ram:ListPoliciesForUser",
        ),
        (IdentityType::AssumedRoleUser, _, Some(role)) => (
            format!("RAM role {role}"),
            ram.list_policies_for_role(role).await,
            "ram:ListPoliciesForRole",
        ),
        _ => {
            return Check::unchecked(
                NAME,
                format!("{} is neither a RAM user nor a RAM role", caller.arn),
            );
        }
    };
    let attach = |target: &str| match caller.user_name() {
        Some(user) => format!(
            "aliyun ram AttachPolicyToUser --PolicyType System --PolicyName {CRYPTO_ADMIN_POLICY} --UserName {user}"
        ),
        None => format!(
            "aliyun ram AttachPolicyToRole --PolicyType System --PolicyName {CRYPTO_ADMIN_POLICY} --RoleName {target}"
        ),
    };
    let target = caller
        .user_name()
        .or(caller.role_name())
        .unwrap_or_default()
        .to_string();
    match answer {
        Ok(policies) => match equivalent(&policies) {
            Some(p) => Check::pass(NAME, format!("{whom} holds {p}")),
            None => {
                let custom: Vec<_> = policies
                    .policies
                    .policy
                    .iter()
                    .filter(|p| p.policy_type == "Custom")
                    .map(|p| p.policy_name.as_str())
                    .collect();
                if custom.is_empty() {
                    Check::fail(NAME, format!("{whom} does not hold {CRYPTO_ADMIN_POLICY}"))
                        .fix(attach(&target))
                } else {
                    Check::warn(
                        NAME,
                        format!(
                            "{whom} holds no {CRYPTO_ADMIN_POLICY}, only custom policies ({}) whose actions are not checked here",
                            custom.join(", ")
                        ),
                    )
                    .fix(attach(&target))
                }
            }
        },
        Err(e @ RamError::NoPermission(_)) => {
            Check::unchecked(NAME, format!("{e} (missing {action})"))
                .fix(format!("grant {action} to check"))
        }
        Err(e) => Check::unchecked(NAME, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secretkms_alibaba::ram::{AttachedPolicy, Policies};

    fn holding(names: &[(&str, &str)]) -> ListPoliciesResponse {
        ListPoliciesResponse {
            policies: Policies {
                policy: names
                    .iter()
                    .map(|(n, t)| AttachedPolicy {
                        policy_name: (*n).into(),
                        policy_type: (*t).into(),
                        ..Default::default()
                    })
                    .collect(),
            },
            ..Default::default()
        }
    }

    #[test]
    fn system_policies_that_grant_as_much_count() {
        assert_eq!(
            equivalent(&holding(&[("AliyunKMSFullAccess", "System")])),
            Some("AliyunKMSFullAccess")
        );
        assert_eq!(
            equivalent(&holding(&[(CRYPTO_ADMIN_POLICY, "Custom")])),
            None,
            "a custom policy of the same name is not the system one"
        );
        assert_eq!(equivalent(&holding(&[])), None);
    }
}
