//! The defaults of a `SecretEncryption` declaration, in one place: the CRD, the state model, the
//! policies and `kubectl secretkms` all read them from here.

/// The provider when none is declared: the webhook reads the key's facts from Alibaba Cloud KMS.
pub const PROVIDER: &str = "alibaba-kms";
/// The key spec Secrets must be encrypted with unless the operator says otherwise.
pub const KEY_SPEC: &str = "Aliyun_AES_256";
/// Whether misconfiguration denies Secret writes (`enforce`) rather than only warning (`audit`).
pub const ENFORCE: bool = true;
/// The age, in seconds, after which facts are no longer trusted.
pub const MAX_STATE_AGE_SECONDS: u64 = 300;
