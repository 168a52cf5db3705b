//! The Alibaba Cloud CLI commands that fix a key, as every denial, finding and warning prints
//! them: written once, so the webhook's policies, `kubectl secretkms` and the conditions never
//! tell the user two different commands (e2e/tests/aliyun_cli.rs runs each as printed).

/// Re-enables a disabled key.
pub fn enable_key(key_id: &str) -> String {
    format!("aliyun kms EnableKey --KeyId {key_id}")
}

/// Stops a scheduled deletion.
pub fn cancel_key_deletion(key_id: &str) -> String {
    format!("aliyun kms CancelKeyDeletion --KeyId {key_id}")
}

/// Shows the key's metadata, for a state secretkms does not know.
pub fn describe_key(key_id: &str) -> String {
    format!("aliyun kms DescribeKey --KeyId {key_id}")
}

/// The rotation period a fix turns on: a year (KMS takes 7 to 730 days), because every rotation
/// asks for a rewrite of every Secret, and its KMS calls, before old versions are unused.
pub const ROTATION_INTERVAL: &str = "365d";

/// Turns automatic rotation on.
pub fn enable_rotation(key_id: &str) -> String {
    format!(
        "aliyun kms UpdateRotationPolicy --KeyId {key_id} --EnableAutomaticRotation true \
         --RotationInterval {ROTATION_INTERVAL}"
    )
}

/// Turns deletion protection on; it is set on the key's ARN, not its id.
pub fn enable_deletion_protection(arn: Option<&str>) -> String {
    format!(
        "aliyun kms SetDeletionProtection --ProtectedResourceArn {} --EnableDeletionProtection true",
        arn.unwrap_or("<key ARN>")
    )
}
