//! The periodic self-test: Encrypt a fixed, public probe with the plugin's key and Decrypt the
//! result, so healthz knows whether seeds can be wrapped and unwrapped now. KMS v2 calls
//! Encrypt only when it makes a new seed and Decrypt mostly at start-up, so real traffic alone
//! would leave the evidence hours old. Alibaba's plugin does the same round trip on every
//! Status call; this one runs on the poll interval and is skipped while real calls prove both.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::health::Failure;
use crate::key_watch::KeyWatch;

/// What the self-test wraps: public, never a secret.
pub const PROBE: &[u8] = b"secretkms-kms-plugin self-test";

/// One round trip; the outcome lands in the watch's evidence.
pub async fn run(watch: &Arc<KeyWatch>) {
    let key = watch.name();
    let wrapped = match watch
        .encrypt_then_refresh(&key, PROBE, Duration::ZERO)
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(%key, error = %e, "self-test: encrypt failed");
            return;
        }
    };
    let outcome = match watch.kms().decrypt(&wrapped.ciphertext_blob, None).await {
        Ok(d) if d.plaintext.0 == PROBE => Ok(()),
        Ok(d) => Err(Failure {
            at: Instant::now(),
            message: format!(
                "kms Decrypt of the self-test probe returned {} other bytes (key {}, version {})",
                d.plaintext.0.len(),
                d.key_id,
                d.key_version_id
            ),
            definitive: true,
        }),
        Err(e) => Err(Failure::from_kms(Instant::now(), &e)),
    };
    if let Err(failure) = &outcome {
        tracing::warn!(%key, error = %failure.message, "self-test: decrypt failed");
    } else {
        tracing::debug!(%key, "self-test round trip ok");
    }
    watch.record_own_decrypt(outcome);
}
