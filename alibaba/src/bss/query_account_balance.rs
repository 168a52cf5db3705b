//! QueryAccountBalance: the account's available amount, cash, credit and currency. Amounts are
//! decimal strings as the API sends them (`"1,234.56"` on some accounts), kept as sent;
//! [`AccountBalance::available`] reads the available amount as a number.

use serde::{Deserialize, Serialize};

use super::{BssClient, BssError, Result};

/// `Data` of the answer, with the API's field names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct AccountBalance {
    pub available_amount: String,
    pub available_cash_amount: String,
    pub credit_amount: String,
    pub mybank_credit_amount: String,
    /// `CNY`, `USD`, ...
    pub currency: String,
    pub quota_limit: String,
}

impl AccountBalance {
    /// The available amount as a number (thousands separators dropped); negative when overdue.
    pub fn available(&self) -> Option<f64> {
        self.available_amount.replace(',', "").trim().parse().ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryAccountBalanceResponse {
    pub request_id: String,
    pub code: String,
    pub message: String,
    pub success: bool,
    pub data: AccountBalance,
}

impl BssClient {
    /// QueryAccountBalance (no parameters); an answer with `Success: false` is
    /// [`BssError::Unsuccessful`].
    pub async fn query_account_balance(&self) -> Result<QueryAccountBalanceResponse> {
        let answer: QueryAccountBalanceResponse =
            self.call("QueryAccountBalance", Vec::new()).await?;
        if !answer.success {
            return Err(BssError::Unsuccessful {
                operation: "QueryAccountBalance",
                code: answer.code,
                message: answer.message,
            });
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_reads_the_decimal_string() {
        let balance = AccountBalance {
            available_amount: "1,234.50".into(),
            ..Default::default()
        };
        assert_eq!(balance.available(), Some(1234.5));
        let overdue = AccountBalance {
            available_amount: "-12.00".into(),
            ..Default::default()
        };
        assert_eq!(overdue.available(), Some(-12.0));
    }
}
