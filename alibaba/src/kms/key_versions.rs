//! ListKeyVersions and DescribeKeyVersion: the versions automatic rotation creates.

use serde::{Deserialize, Serialize};

use super::{KmsClient, Result};
use crate::openapi::param;

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyVersion {
    pub key_id: String,
    pub key_version_id: String,
    pub creation_date: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyVersions {
    pub key_version: Vec<KeyVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListKeyVersionsResponse {
    pub request_id: String,
    pub key_versions: KeyVersions,
    pub page_number: u32,
    pub page_size: u32,
    pub total_count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase", default)]
pub struct DescribeKeyVersionResponse {
    pub request_id: String,
    pub key_version: KeyVersion,
}

impl KmsClient {
    pub async fn list_key_versions(
        &self,
        key: &str,
        page_number: u32,
        page_size: u32,
    ) -> Result<ListKeyVersionsResponse> {
        self.call(
            "ListKeyVersions",
            vec![
                param("KeyId", key),
                param("PageNumber", page_number.to_string()),
                param("PageSize", page_size.to_string()),
            ],
        )
        .await
    }

    /// Every version of a key, paging 100 at a time (a region holds at most 10,000 versions).
    pub async fn all_key_versions(&self, key: &str) -> Result<Vec<KeyVersion>> {
        let mut versions = Vec::new();
        for page in 1..=100 {
            let r = self.list_key_versions(key, page, 100).await?;
            let got = r.key_versions.key_version.len();
            versions.extend(r.key_versions.key_version);
            if got == 0 || versions.len() >= r.total_count as usize {
                break;
            }
        }
        Ok(versions)
    }

    pub async fn describe_key_version(
        &self,
        key: &str,
        version: &str,
    ) -> Result<DescribeKeyVersionResponse> {
        self.call(
            "DescribeKeyVersion",
            vec![param("KeyId", key), param("KeyVersionId", version)],
        )
        .await
    }
}
