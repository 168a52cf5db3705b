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
/// The most `maxStateAgeSeconds` may be (the CRD's maximum): one hour. The guard trusts facts up
/// to this old, so every second more is a second a key that was disabled or scheduled for
/// deletion still passes. An hour is 120 missed polls at the default 30 s interval, far past any
/// throttling a poller waits out, and as long as the STS credentials behind the polls last
/// (AssumeRoleWithOIDC's default `DurationSeconds`): a source silent for longer is broken, not slow.
pub const MAX_STATE_AGE_SECONDS_LIMIT: u64 = 3600;
