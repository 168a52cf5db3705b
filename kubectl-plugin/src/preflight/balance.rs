//! The account balance (BSS QueryAccountBalance), because ACK's documentation warns that an
//! account overdue for more than seven days can no longer manage its clusters: encryption could
//! then be neither changed nor turned off. Overdue fails; a balance below a month of the
//! expected KMS calls warns.

use secretkms_alibaba::bss::{AccountBalance, BssClient, BssError};

use crate::checklist::Check;

const NAME: &str = "account-balance";

const OVERDUE: &str = "ACK cannot manage a cluster of an account overdue for more than seven days, so encryption could be neither changed nor turned off";

/// The judgement on `balance`, given a month of KMS calls' cost in the same currency.
pub fn judge(balance: &AccountBalance, monthly_cost: Option<f64>) -> Check {
    let currency = &balance.currency;
    let Some(available) = balance.available() else {
        return Check::unchecked(
            NAME,
            format!(
                "AvailableAmount {:?} is not a number",
                balance.available_amount
            ),
        );
    };
    let top_up = "top up the account (Billing Management > Funds) before changing encryption";
    if available <= 0.0 {
        return Check::fail(
            NAME,
            format!("available {available:.2} {currency}: the account is overdue; {OVERDUE}"),
        )
        .fix(top_up);
    }
    match monthly_cost {
        Some(cost) if available < cost => Check::warn(
            NAME,
            format!(
                "available {available:.2} {currency}, less than a month of KMS calls ({cost:.2}); {OVERDUE}"
            ),
        )
        .fix(top_up),
        _ => Check::pass(NAME, format!("available {available:.2} {currency}")),
    }
}

pub async fn check(bss: &BssClient, monthly_cost: Option<f64>) -> Check {
    match bss.query_account_balance().await {
        Ok(answer) => judge(&answer.data, monthly_cost),
        Err(e @ BssError::NoPermission(_)) => Check::unchecked(NAME, e)
            .fix("grant billing read access (e.g. the AliyunBSSReadOnlyAccess policy) to check"),
        Err(e) => Check::unchecked(NAME, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::Level;

    fn balance(amount: &str) -> AccountBalance {
        AccountBalance {
            available_amount: amount.into(),
            currency: "CNY".into(),
            ..Default::default()
        }
    }

    #[test]
    fn overdue_fails_and_too_little_for_a_month_warns() {
        assert_eq!(judge(&balance("-3.50"), None).level, Level::Fail);
        assert_eq!(judge(&balance("0.00"), None).level, Level::Fail);
        let low = judge(&balance("1.00"), Some(2.5));
        assert_eq!(low.level, Level::Warn);
        assert!(low.detail.contains("seven days"), "{}", low.detail);
        assert_eq!(judge(&balance("1,000.00"), Some(2.5)).level, Level::Pass);
        assert_eq!(judge(&balance("n/a"), None).level, Level::Warn);
    }
}
