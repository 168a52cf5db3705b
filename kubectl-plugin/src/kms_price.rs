//! Alibaba Cloud's published price of KMS API calls, per 10,000 calls, by the key's region and
//! key spec: the default of every cost estimate the plugin prints (`rewrite --dry-run`, and the
//! preflight's estimate), so none of them borrows another cloud's price. A caller's own figure
//! (`--price-per-10k`) always wins; this table only says what the price list says.
//!
//! Source: "Billing of KMS 1.0" (shared KMS, pay-as-you-go), API call fees: basic keys
//! (`Aliyun_AES_256`, `Aliyun_SM4`, `RSA_2048`) USD 0.08 per 10,000 calls in regions in the
//! Chinese mainland and USD 0.03 outside it; advanced keys (`Aliyun_SM2`, `RSA_3072`,
//! `EC_P256`, `EC_P256K`) USD 0.24 and 0.15. Only cryptographic operations (Encrypt, Decrypt,
//! GenerateDataKey, ...) are billed. Keys in a KMS instance (Dedicated KMS, KMS 3.0) are not
//! billed per call: the instance's fee covers its computing performance (pay-as-you-go
//! instances pay USD 0.5 a day per QPS of their busiest minute), so a per-call price of 0 is
//! what a rewrite adds there, up to a QPS peak this table cannot know.
//!
//! ```
//! use kubectl_secretkms::kms_price;
//! let p = kms_price::published("cn-hangzhou", "Aliyun_AES_256", false).unwrap();
//! assert_eq!((p.per_10k_calls, p.currency), (0.08, "USD"));
//! assert_eq!(kms_price::published("ap-southeast-1", "Aliyun_AES_256", false).unwrap().per_10k_calls, 0.03);
//! ```

use secretkms_alibaba::kms::KeyMetadata;
use serde::Serialize;

/// The page the per-call prices come from ("Billing of KMS 1.0").
pub const KMS_1_SOURCE: &str = "https://www.alibabacloud.com/help/en/kms/support/billing-of-kms";
/// The date the KMS 1.0 page showed as its last update when its table was read.
pub const KMS_1_AS_OF: &str = "2025-09-17";
/// The page for keys in a KMS instance (pay-as-you-go KMS 3.0: instance, key and QPS fees).
pub const INSTANCE_SOURCE: &str =
    "https://www.alibabacloud.com/help/en/kms/key-management-service/pay-as-you-go";
/// The date the KMS instance page showed as its last update when it was read.
pub const INSTANCE_AS_OF: &str = "2024-08-15";

/// A price per 10,000 KMS calls and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Price {
    pub per_10k_calls: f64,
    /// ISO 4217 code; the published prices are in `USD`.
    pub currency: &'static str,
    /// Which line of the price list applies, e.g. `basic key (Aliyun_AES_256), Chinese
    /// mainland region cn-hangzhou`, or `--price-per-10k` for the caller's own figure.
    pub basis: String,
    /// The price list's URL; empty for the caller's own figure.
    pub source: &'static str,
    /// When the price list was read (its last-updated date); empty for the caller's own figure.
    pub as_of: &'static str,
}

impl Price {
    /// The caller's own figure (`--price-per-10k`), in the published currency.
    pub fn given(per_10k_calls: f64) -> Self {
        Self {
            per_10k_calls,
            currency: "USD",
            basis: "--price-per-10k".into(),
            source: "",
            as_of: "",
        }
    }

    /// `0.08 USD per 10,000 calls (basic key ..., <source> as of <date>)`, for reports.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} {} per 10,000 calls ({}",
            self.per_10k_calls, self.currency, self.basis
        );
        if !self.source.is_empty() {
            out.push_str(&format!("; {} as of {}", self.source, self.as_of));
        }
        out.push(')');
        out
    }
}

/// Why the price list has no line for a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoPrice {
    #[error("no published KMS call price for key spec {0:?}; pass --price-per-10k")]
    KeySpec(String),
    #[error(
        "the key's region is unknown, and the KMS call price depends on it; pass --price-per-10k"
    )]
    Region,
}

/// The tiers of the KMS 1.0 price list, by key spec.
const BASIC: &[&str] = &["Aliyun_AES_256", "Aliyun_SM4", "RSA_2048"];
const ADVANCED: &[&str] = &["Aliyun_SM2", "RSA_3072", "EC_P256", "EC_P256K"];

/// The published price per 10,000 calls for a key of `key_spec` in `region` (a region id such
/// as `cn-hangzhou`); `in_instance` when the key lives in a KMS instance (DescribeKey's
/// `DKMSInstanceId`), whose calls are not billed per call.
pub fn published(region: &str, key_spec: &str, in_instance: bool) -> Result<Price, NoPrice> {
    if in_instance {
        return Ok(Price {
            per_10k_calls: 0.0,
            currency: "USD",
            basis: "key in a KMS instance: calls are covered by the instance's fee \
                    (pay-as-you-go: 0.5 USD a day per QPS at the busiest minute), not billed per call"
                .into(),
            source: INSTANCE_SOURCE,
            as_of: INSTANCE_AS_OF,
        });
    }
    let (tier, mainland, outside) = if BASIC.contains(&key_spec) {
        ("basic", 0.08, 0.03)
    } else if ADVANCED.contains(&key_spec) {
        ("advanced", 0.24, 0.15)
    } else {
        return Err(NoPrice::KeySpec(key_spec.to_string()));
    };
    if region.is_empty() {
        return Err(NoPrice::Region);
    }
    let (per_10k_calls, area) = if in_chinese_mainland(region) {
        (mainland, "Chinese mainland")
    } else {
        (outside, "outside the Chinese mainland")
    };
    Ok(Price {
        per_10k_calls,
        currency: "USD",
        basis: format!("KMS 1.0 {tier} key ({key_spec}), {area} region {region}"),
        source: KMS_1_SOURCE,
        as_of: KMS_1_AS_OF,
    })
}

/// Region ids in the Chinese mainland start with `cn-`; Hong Kong's (`cn-hongkong`) is priced
/// as outside it.
fn in_chinese_mainland(region: &str) -> bool {
    region.starts_with("cn-") && region != "cn-hongkong"
}

/// The price for a key (the rewrite's dry run, enable's estimate): the caller's figure, else Alibaba Cloud's published price for the
/// key DescribeKey described (region from its ARN, its key spec, whether it is in an instance).
pub fn for_key(given: Option<f64>, meta: Option<&KeyMetadata>) -> Result<Price, String> {
    if let Some(p) = given {
        return Ok(Price::given(p));
    }
    let meta = meta.ok_or(
        "the key was not read from KMS, and its price depends on its region and key spec; pass --price-per-10k",
    )?;
    let region = secretkms_alibaba::kms::KeyArn::parse(&meta.arn)
        .map(|a| a.region)
        .unwrap_or_default();
    let in_instance = meta
        .dkms_instance_id
        .as_deref()
        .is_some_and(|i| !i.is_empty());
    published(&region, &meta.key_spec, in_instance).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_keys_cost_more_in_the_chinese_mainland() {
        let hz = published("cn-hangzhou", "Aliyun_AES_256", false).unwrap();
        assert_eq!(hz.per_10k_calls, 0.08);
        assert_eq!(hz.source, KMS_1_SOURCE);
        assert!(hz.basis.contains("basic key (Aliyun_AES_256)"), "{hz:?}");
        assert_eq!(
            published("ap-southeast-1", "Aliyun_SM4", false)
                .unwrap()
                .per_10k_calls,
            0.03
        );
    }

    #[test]
    fn hong_kong_is_priced_outside_the_mainland() {
        assert_eq!(
            published("cn-hongkong", "RSA_2048", false)
                .unwrap()
                .per_10k_calls,
            0.03
        );
    }

    #[test]
    fn advanced_keys_have_their_own_line() {
        assert_eq!(
            published("cn-shanghai", "EC_P256", false)
                .unwrap()
                .per_10k_calls,
            0.24
        );
        assert_eq!(
            published("eu-central-1", "Aliyun_SM2", false)
                .unwrap()
                .per_10k_calls,
            0.15
        );
    }

    #[test]
    fn instance_keys_are_not_billed_per_call() {
        let p = published("cn-hangzhou", "Aliyun_AES_256", true).unwrap();
        assert_eq!(p.per_10k_calls, 0.0);
        assert_eq!(p.source, INSTANCE_SOURCE);
    }

    #[test]
    fn unlisted_specs_and_unknown_regions_have_no_price() {
        assert_eq!(
            published("cn-hangzhou", "Aliyun_AES_128", false),
            Err(NoPrice::KeySpec("Aliyun_AES_128".into()))
        );
        assert_eq!(published("", "Aliyun_AES_256", false), Err(NoPrice::Region));
    }

    #[test]
    fn the_description_names_price_basis_and_source() {
        let p = published("cn-hangzhou", "Aliyun_AES_256", false).unwrap();
        assert_eq!(
            p.describe(),
            format!(
                "0.08 USD per 10,000 calls (KMS 1.0 basic key (Aliyun_AES_256), Chinese mainland region cn-hangzhou; {KMS_1_SOURCE} as of {KMS_1_AS_OF})"
            )
        );
        assert_eq!(
            Price::given(0.06).describe(),
            "0.06 USD per 10,000 calls (--price-per-10k)"
        );
    }
}
