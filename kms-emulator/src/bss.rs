//! The emulator's BSS OpenAPI (2017-12-14): `QueryAccountBalance` over the account model's
//! balance, in BSS's answer shape (`Code`, `Message`, `Success`, `Data`).

use serde_json::{Value, json};

use crate::account::Account;
use crate::api_error::ApiError;

pub const BSS_VERSION: &str = "2017-12-14";

/// Signed BSS actions.
pub fn dispatch(account: &Account, action: &str) -> Result<Value, ApiError> {
    match action {
        "QueryAccountBalance" => {
            let b = &account.balance;
            Ok(json!({
                "Code": "200",
                "Message": "Successful!",
                "Success": true,
                "Data": {
                    "AvailableAmount": b.available_amount,
                    "AvailableCashAmount": b.available_cash_amount,
                    "CreditAmount": b.credit_amount,
                    "MybankCreditAmount": "0.00",
                    "Currency": b.currency,
                    "QuotaLimit": "0.00",
                },
            }))
        }
        other => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {other:?} is not found."),
        )),
    }
}
