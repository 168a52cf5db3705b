//! CreateAlias and ListAliases: the `alias/<name>` names of keys.

use serde::{Deserialize, Serialize};

use super::{Acknowledged, KmsClient, Result};
use crate::openapi::param;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Alias {
    pub alias_name: String,
    pub alias_arn: String,
    pub key_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct Aliases {
    pub alias: Vec<Alias>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListAliasesResponse {
    pub request_id: String,
    pub aliases: Aliases,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: u32,
}

impl KmsClient {
    /// CreateAlias; `alias` must start with `alias/`.
    pub async fn create_alias(&self, alias: &str, key_id: &str) -> Result<Acknowledged> {
        self.call(
            "CreateAlias",
            vec![param("AliasName", alias), param("KeyId", key_id)],
        )
        .await
    }

    pub async fn list_aliases(
        &self,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListAliasesResponse> {
        self.call(
            "ListAliases",
            vec![
                param("PageNumber", page_number.to_string()),
                param("PageSize", page_size.to_string()),
            ],
        )
        .await
    }
}
