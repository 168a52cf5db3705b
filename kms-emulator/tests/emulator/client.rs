//! The core KMS client against the emulator: round trips with both signature methods, every
//! typed error, retries and recovery under injected faults, and TLS with a custom CA.

use std::time::{Duration, Instant};

use secretkms_alibaba::kms::{CreateKeyRequest, KeyArn, KmsError, RetryPolicy, SignatureMethod};
use serde_json::json;

use super::*;

const BOTH: [SignatureMethod; 2] = [
    SignatureMethod::Acs3HmacSha256,
    SignatureMethod::RpcHmacSha1,
];

#[tokio::test]
async fn round_trips_with_both_signature_methods() {
    let emu = emulator(&["alias=k8s,rotation=365d"]).await;
    for method in BOTH {
        let kms = client(&emu, method);
        let described = kms.describe_key("alias/k8s").await.unwrap().key_metadata;
        let by_id = kms
            .describe_key(&described.key_id)
            .await
            .unwrap()
            .key_metadata;
        let by_arn = kms.describe_key(&described.arn).await.unwrap().key_metadata;
        assert_eq!(by_id, described);
        assert_eq!(by_arn.key_id, described.key_id);
        assert_eq!(described.rotation_interval.as_deref(), Some("31536000s"));

        let key = metadata(&kms, "alias/k8s").await;
        assert_eq!(key.key_state, "Enabled");
        assert_eq!(
            KeyArn::parse(&key.arn).map(|a| a.region).as_deref(),
            Some("cn-hangzhou")
        );
        assert_eq!(key.key_spec, "Aliyun_AES_256");
        assert_eq!(key.automatic_rotation.as_deref(), Some("Enabled"));

        let context = [("ns".to_string(), "default".to_string())]
            .into_iter()
            .collect();
        let encrypted = kms
            .encrypt("alias/k8s", b"top secret", Some(&context))
            .await
            .unwrap();
        assert_eq!(encrypted.key_id, described.key_id);
        let decrypted = kms
            .decrypt(&encrypted.ciphertext_blob, Some(&context))
            .await
            .unwrap();
        assert_eq!(decrypted.plaintext.0, b"top secret");
        assert!(
            !format!("{decrypted:?}").contains("top secret"),
            "plaintext must not print"
        );
        let wrong_context = kms
            .decrypt(&encrypted.ciphertext_blob, None)
            .await
            .unwrap_err();
        assert_eq!(wrong_context.code(), Some("InvalidCiphertext"));

        let data_key = kms.generate_data_key("alias/k8s", 32, None).await.unwrap();
        assert_eq!(data_key.plaintext.0.len(), 32);
        let unwrapped = kms.decrypt(&data_key.ciphertext_blob, None).await.unwrap();
        // KMS returns a data key base64-encoded and Decrypt of its blob returns that same text, so
        // both decode to the same bytes.
        assert_eq!(unwrapped.plaintext, data_key.plaintext);

        // Rotation: a new primary version, old ciphertext still decrypts with its own version.
        let before = kms.all_key_versions("alias/k8s").await.unwrap();
        let rotated = control(&emu, "rotate?key=alias/k8s", None).await;
        let new_version = rotated["KeyVersionId"].as_str().unwrap();
        let after = kms.all_key_versions("alias/k8s").await.unwrap();
        assert_eq!(after.len(), before.len() + 1);
        let version = kms
            .describe_key_version("alias/k8s", new_version)
            .await
            .unwrap();
        assert_eq!(version.key_version.key_version_id, new_version);
        assert_eq!(
            metadata(&kms, "alias/k8s")
                .await
                .primary_key_version
                .as_deref(),
            Some(new_version)
        );
        let again = kms
            .decrypt(&encrypted.ciphertext_blob, Some(&context))
            .await
            .unwrap();
        assert_eq!(again.key_version_id, encrypted.key_version_id);
        assert_ne!(again.key_version_id, new_version);
    }
}

#[tokio::test]
async fn admin_operations_and_key_state_errors() {
    let emu = emulator(&[]).await;
    let kms = client(&emu, SignatureMethod::Acs3HmacSha256);
    let created = kms
        .create_key(&CreateKeyRequest {
            description: "test".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let id = created.key_metadata.key_id.clone();
    kms.create_alias("alias/admin", &id).await.unwrap();
    let aliases = kms.list_aliases(1, 10).await.unwrap();
    assert_eq!(aliases.aliases.alias[0].alias_name, "alias/admin");
    assert_eq!(
        kms.create_alias("alias/admin", &id)
            .await
            .unwrap_err()
            .code(),
        Some("AliasAlreadyExists")
    );

    kms.update_rotation_policy(&id, true, Some("30d"))
        .await
        .unwrap();
    let facts = metadata(&kms, &id).await;
    assert_eq!(facts.rotation_interval.as_deref(), Some("2592000s"));
    assert!(facts.next_rotation_date.is_some());

    kms.disable_key(&id).await.unwrap();
    let err = kms.encrypt(&id, b"x", None).await.unwrap_err();
    assert!(
        matches!(&err, KmsError::KeyState(a) if a.code == "Rejected.Disabled" && a.http_status == 409),
        "{err}"
    );
    assert!(
        err.to_string().contains("Encrypt") && err.to_string().contains("Rejected.Disabled"),
        "{err}"
    );
    kms.enable_key(&id).await.unwrap();

    kms.set_deletion_protection(&created.key_metadata.arn, true, Some("in use by k8s"))
        .await
        .unwrap();
    assert_eq!(
        metadata(&kms, &id).await.deletion_protection.as_deref(),
        Some("Enabled")
    );
    let err = kms.schedule_key_deletion(&id, 7).await.unwrap_err();
    assert!(matches!(err, KmsError::NoPermission(_)), "{err}");
    kms.set_deletion_protection(&created.key_metadata.arn, false, None)
        .await
        .unwrap();

    kms.schedule_key_deletion(&id, 7).await.unwrap();
    let facts = metadata(&kms, &id).await;
    assert_eq!(facts.key_state, "PendingDeletion");
    assert!(facts.delete_date.is_some());
    let err = kms.enable_key(&id).await.unwrap_err();
    assert!(
        matches!(&err, KmsError::KeyState(a) if a.code == "Rejected.StateModifiedFailed"),
        "{err}"
    );
    let err = kms.generate_data_key(&id, 32, None).await.unwrap_err();
    assert_eq!(err.code(), Some("Rejected.PendingDeletion"));
    kms.cancel_key_deletion(&id).await.unwrap();
    assert_eq!(metadata(&kms, &id).await.delete_date, None);
    let err = kms.cancel_key_deletion(&id).await.unwrap_err();
    assert_eq!(err.code(), Some("Rejected.Enabled"));
}

#[tokio::test]
async fn not_found_and_authentication_errors_are_typed() {
    let emu = emulator(&["alias=k8s"]).await;
    let kms = client(&emu, SignatureMethod::Acs3HmacSha256);
    assert!(matches!(
        kms.describe_key("no-such-key").await.unwrap_err(),
        KmsError::KeyNotFound(_)
    ));
    let err = kms.describe_key("alias/missing").await.unwrap_err();
    assert!(
        matches!(&err, KmsError::KeyNotFound(a) if a.code == "Forbidden.AliasNotFound"),
        "{err}"
    );
    let other_region = "acs:kms:cn-beijing:1234567890123456:key/whatever";
    assert!(matches!(
        kms.describe_key(other_region).await.unwrap_err(),
        KmsError::KeyNotFound(_)
    ));

    for method in BOTH {
        let wrong_secret = client_with(
            config(&emu, method),
            DEFAULT_ACCESS_KEY_ID,
            "not-the-secret",
        );
        let err = wrong_secret.describe_key("alias/k8s").await.unwrap_err();
        assert!(
            matches!(&err, KmsError::Signature(a) if a.code == "SignatureDoesNotMatch"),
            "{err}"
        );
        assert!(!err.to_string().contains("not-the-secret"));
        let unknown = client_with(config(&emu, method), "LTAIunknown", "s");
        let err = unknown.describe_key("alias/k8s").await.unwrap_err();
        assert!(
            matches!(&err, KmsError::InvalidCredentials(a) if a.code == "InvalidAccessKeyId.NotFound"),
            "{err}"
        );

        let mut skewed = config(&emu, method);
        skewed.clock_offset = time::Duration::minutes(-20);
        let err = client_with(skewed, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
            .describe_key("alias/k8s")
            .await
            .unwrap_err();
        assert!(matches!(err, KmsError::IllegalTimestamp(_)), "{err}");
        let mut slightly = config(&emu, method);
        slightly.clock_offset = time::Duration::minutes(10);
        client_with(slightly, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
            .describe_key("alias/k8s")
            .await
            .unwrap();
    }
}

async fn raw_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, body["Code"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn replayed_and_tampered_requests_are_rejected() {
    let emu = emulator(&["alias=k8s"]).await;
    let creds = secretkms_alibaba::credentials::Credentials::access_key(
        DEFAULT_ACCESS_KEY_ID,
        DEFAULT_ACCESS_KEY_SECRET,
        "test",
    );
    for method in BOTH {
        let kms = client(&emu, method);
        let params = vec![("KeyId".to_string(), "alias/k8s".to_string())];
        let request = kms
            .signed_request(
                "DescribeKey",
                &params,
                &creds,
                time::OffsetDateTime::now_utc(),
            )
            .unwrap()
            .build()
            .unwrap();
        let replay = request.try_clone().unwrap();
        let http = reqwest::Client::new();
        assert_eq!(http.execute(request).await.unwrap().status(), 200);
        assert_eq!(
            raw_error(http.execute(replay).await.unwrap()).await,
            (400, "SignatureNonceUsed".into())
        );

        let mut tampered = kms
            .signed_request(
                "DescribeKey",
                &params,
                &creds,
                time::OffsetDateTime::now_utc(),
            )
            .unwrap()
            .build()
            .unwrap();
        let query = tampered.url().query().unwrap().replace("k8s", "other");
        tampered.url_mut().set_query(Some(&query));
        assert_eq!(
            raw_error(http.execute(tampered).await.unwrap()).await,
            (400, "SignatureDoesNotMatch".into())
        );
    }
    // An unsigned request is incomplete, not anonymous.
    let response = reqwest::Client::new()
        .post(format!("{}/?Action=DescribeKey&KeyId=alias/k8s", emu.url))
        .send()
        .await
        .unwrap();
    assert_eq!(
        raw_error(response).await,
        (400, "IncompleteSignature".into())
    );
}

#[tokio::test]
async fn retries_throttling_and_server_errors_then_recovers() {
    let emu = emulator(&["alias=k8s"]).await;
    let kms = client(&emu, SignatureMethod::Acs3HmacSha256);
    for fault in [
        json!({"kind": "throttle", "count": 2}),
        json!({"kind": "throttle", "count": 2, "status": 400}),
        json!({"kind": "server-error", "count": 3}),
        json!({"kind": "server-error", "count": 1, "status": 503}),
        json!({"kind": "drop", "count": 2}),
    ] {
        control(&emu, "faults", Some(fault.clone())).await;
        kms.describe_key("alias/k8s")
            .await
            .unwrap_or_else(|e| panic!("{fault} not retried: {e}"));
        let pending = reqwest::get(format!("{}/_emulator/faults", emu.url))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap();
        assert_eq!(
            pending["Faults"],
            json!([]),
            "{fault} fully consumed by retries"
        );
    }

    control(
        &emu,
        "faults",
        Some(json!({"kind": "throttle", "count": 10, "action": "DescribeKey"})),
    )
    .await;
    let started = Instant::now();
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    assert!(
        matches!(err, KmsError::Throttled { attempts: 4, .. }),
        "{err}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(30),
        "backoff between attempts"
    );
    // Other operations are unaffected by an action-scoped fault, and the client recovers once it clears.
    kms.encrypt("alias/k8s", b"x", None).await.unwrap();
    reqwest::Client::new()
        .delete(format!("{}/_emulator/faults", emu.url))
        .send()
        .await
        .unwrap();
    kms.describe_key("alias/k8s").await.unwrap();

    // Client errors are not retried: the disabled-key rejection uses one of two latency rules.
    control(&emu, "disable?key=alias/k8s", None).await;
    control(
        &emu,
        "faults",
        Some(json!({"kind": "latency", "count": 2, "latency_ms": 1})),
    )
    .await;
    assert!(matches!(
        kms.encrypt("alias/k8s", b"x", None).await.unwrap_err(),
        KmsError::KeyState(_)
    ));
    let pending = reqwest::get(format!("{}/_emulator/faults", emu.url))
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_eq!(pending["Faults"][0]["count"], 1);
}

#[tokio::test]
async fn truncated_malformed_and_dropped_responses_are_clear_errors() {
    let emu = emulator(&["alias=k8s"]).await;
    let mut no_retry = config(&emu, SignatureMethod::Acs3HmacSha256);
    no_retry.retry = RetryPolicy::none();
    no_retry.timeout = Duration::from_millis(500);
    let kms = client_with(no_retry, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);

    control(&emu, "faults", Some(json!({"kind": "truncate"}))).await;
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    assert!(matches!(err, KmsError::MalformedResponse { .. }), "{err}");
    assert!(
        err.to_string().contains("DescribeKey") && err.to_string().contains("EOF"),
        "{err}"
    );

    control(&emu, "faults", Some(json!({"kind": "malformed"}))).await;
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    assert!(
        matches!(
            err,
            KmsError::MalformedResponse {
                http_status: 200,
                ..
            }
        ),
        "{err}"
    );

    control(&emu, "faults", Some(json!({"kind": "drop"}))).await;
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    assert!(
        matches!(err, KmsError::Transport { attempts: 1, .. }),
        "{err}"
    );

    control(
        &emu,
        "faults",
        Some(json!({"kind": "latency", "latency_ms": 3000})),
    )
    .await;
    let started = Instant::now();
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));

    kms.describe_key("alias/k8s").await.unwrap();
}

#[tokio::test]
async fn unreachable_endpoint_fails_after_bounded_attempts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = KmsConfig::new(Endpoint::parse(&format!("http://127.0.0.1:{port}")).unwrap());
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(100),
    };
    let kms = client_with(config, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
    let started = Instant::now();
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    let elapsed = started.elapsed();
    assert!(
        matches!(err, KmsError::Transport { attempts: 3, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(50) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn https_with_a_custom_ca() {
    let ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    let mut ca = ca;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let mut leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf.subject_alt_names
        .push(rcgen::SanType::IpAddress("127.0.0.1".parse().unwrap()));
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tls.crt"), leaf_cert.pem()).unwrap();
    std::fs::write(dir.path().join("tls.key"), leaf_key.serialize_pem()).unwrap();

    let config = EmulatorConfig {
        seed_keys: vec!["alias=k8s".parse().unwrap()],
        tls: Some((dir.path().join("tls.crt"), dir.path().join("tls.key"))),
        ..EmulatorConfig::default()
    };
    let emu = secretkms_kms_emulator::start(config).await.unwrap();
    assert!(emu.url.starts_with("https://127.0.0.1:"));
    let mut trusted = KmsConfig::new(Endpoint::parse(&emu.url).unwrap());
    trusted.ca_pem = Some(ca_cert.pem().into_bytes());
    let kms = client_with(trusted, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET);
    assert_eq!(metadata(&kms, "alias/k8s").await.key_state, "Enabled");

    let mut untrusted = KmsConfig::new(Endpoint::parse(&emu.url).unwrap());
    untrusted.retry = RetryPolicy::none();
    let err = client_with(untrusted, DEFAULT_ACCESS_KEY_ID, DEFAULT_ACCESS_KEY_SECRET)
        .describe_key("alias/k8s")
        .await
        .unwrap_err();
    assert!(matches!(err, KmsError::Transport { .. }), "{err}");
}
