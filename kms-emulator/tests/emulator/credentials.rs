//! The credential chain against the emulator's STS and ECS metadata: RRSA, CLI profiles in
//! RamRoleArn / OIDC / EcsRamRole modes, ECS RAM role, and credentials that STS later expires.

use std::path::Path;
use std::sync::Arc;

use secretkms_alibaba::credentials::{
    CachedProvider, CredentialsProvider, DefaultChain, Environment,
};
use secretkms_alibaba::kms::{KmsClient, KmsError, SignatureMethod};

use super::*;

/// A JWT-shaped token, as the kubelet projects for RRSA.
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6a3ViZS1zeXN0ZW06c2VjcmV0a21zIn0.c2ln";
const ROLE: &str = "acs:ram::1234567890123456:role/secretkms";
const PROVIDER: &str = "acs:ram::1234567890123456:oidc-provider/ack-rrsa-c123";

fn env(home: &Path, pairs: &[(&str, &str)]) -> Environment {
    let mut all = vec![
        ("HOME".to_string(), home.display().to_string()),
        // Never reach for the real metadata service from a test machine.
        (
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED".to_string(),
            "true".to_string(),
        ),
    ];
    all.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Environment::from_pairs(all)
}

async fn kms_with(
    emu: &Running,
    env: &Environment,
) -> (KmsClient, Arc<CachedProvider<DefaultChain>>) {
    let provider = Arc::new(DefaultChain::cached(env));
    let kms = KmsClient::new(
        config(emu, SignatureMethod::Acs3HmacSha256),
        provider.clone(),
    )
    .unwrap();
    (kms, provider)
}

#[tokio::test]
async fn rrsa_exchanges_the_oidc_token_with_sts() {
    let emu = emulator(&["alias=k8s"]).await;
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let token_path = token_file.display().to_string();
    let env = env(
        home.path(),
        &[
            ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", &token_path),
            ("ALIBABA_CLOUD_STS_ENDPOINT", &emu.url),
        ],
    );
    let (kms, provider) = kms_with(&emu, &env).await;
    let creds = provider.credentials().await.unwrap();
    assert!(creds.access_key_id.starts_with("STS."), "{creds:?}");
    assert_eq!(creds.source, "rrsa");
    assert!(creds.expiration.is_some() && creds.security_token.is_some());
    for method in [
        SignatureMethod::Acs3HmacSha256,
        SignatureMethod::RpcHmacSha1,
    ] {
        let kms = KmsClient::new(config(&emu, method), provider.clone()).unwrap();
        kms.describe_key("alias/k8s").await.unwrap();
    }

    // STS revokes (expires) the temporary credentials: KMS says so, typed.
    control(&emu, "expire-sts", None).await;
    let err = kms.describe_key("alias/k8s").await.unwrap_err();
    assert!(
        matches!(&err, KmsError::InvalidCredentials(a) if a.code == "InvalidSecurityToken.Expired"),
        "{err}"
    );

    // An unreadable token file names the file.
    std::fs::remove_file(&token_file).unwrap();
    let fresh = DefaultChain::from_env(&env);
    let err = fresh.fetch().await.unwrap_err().to_string();
    assert!(err.contains(&token_path), "{err}");
}

#[tokio::test]
async fn environment_access_key_wins_over_rrsa() {
    let emu = emulator(&["alias=k8s"]).await;
    let home = tempfile::tempdir().unwrap();
    let env = env(
        home.path(),
        &[
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", DEFAULT_ACCESS_KEY_ID),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", DEFAULT_ACCESS_KEY_SECRET),
            ("ALIBABA_CLOUD_ROLE_ARN", ROLE),
            ("ALIBABA_CLOUD_OIDC_PROVIDER_ARN", PROVIDER),
            ("ALIBABA_CLOUD_OIDC_TOKEN_FILE", "/nonexistent/token"),
            ("ALIBABA_CLOUD_STS_ENDPOINT", &emu.url),
        ],
    );
    let (kms, provider) = kms_with(&emu, &env).await;
    assert_eq!(provider.credentials().await.unwrap().source, "environment");
    kms.describe_key("alias/k8s").await.unwrap();
}

fn write_profiles(home: &Path, token_file: &Path) {
    let config = serde_json::json!({
        "current": "ak",
        "profiles": [
            {"name": "ak", "mode": "AK", "access_key_id": DEFAULT_ACCESS_KEY_ID, "access_key_secret": DEFAULT_ACCESS_KEY_SECRET},
            {"name": "role", "mode": "RamRoleArn", "access_key_id": DEFAULT_ACCESS_KEY_ID,
             "access_key_secret": DEFAULT_ACCESS_KEY_SECRET, "ram_role_arn": ROLE, "ram_session_name": "secretkms-test",
             "expired_seconds": 900},
            {"name": "oidc", "mode": "OIDC", "ram_role_arn": ROLE, "oidc_provider_arn": PROVIDER,
             "oidc_token_file": token_file.display().to_string()},
            {"name": "ecs", "mode": "EcsRamRole", "ram_role_name": "secretkms-emulator-role"}
        ],
        "meta_path": ""
    });
    std::fs::create_dir_all(home.join(".aliyun")).unwrap();
    std::fs::write(home.join(".aliyun/config.json"), config.to_string()).unwrap();
}

#[tokio::test]
async fn cli_profiles_in_every_supported_mode() {
    let emu = emulator(&["alias=k8s"]).await;
    let home = tempfile::tempdir().unwrap();
    let token_file = home.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    write_profiles(home.path(), &token_file);
    for (profile, source, temporary) in [
        ("ak", "profile", false),
        ("role", "ram-role-arn", true),
        ("oidc", "profile-oidc", true),
        ("ecs", "ecs-ram-role", true),
    ] {
        let env = env(
            home.path(),
            &[
                ("ALIBABA_CLOUD_PROFILE", profile),
                ("ALIBABA_CLOUD_STS_ENDPOINT", &emu.url),
                ("SECRETKMS_ECS_METADATA_ENDPOINT", &emu.url),
            ],
        );
        let (kms, provider) = kms_with(&emu, &env).await;
        let creds = provider
            .credentials()
            .await
            .unwrap_or_else(|e| panic!("profile {profile}: {e}"));
        assert_eq!(creds.source, source, "profile {profile}");
        assert_eq!(
            creds.access_key_id.starts_with("STS."),
            temporary,
            "profile {profile}"
        );
        kms.describe_key("alias/k8s")
            .await
            .unwrap_or_else(|e| panic!("profile {profile}: {e}"));
    }
}

#[tokio::test]
async fn ecs_ram_role_from_instance_metadata() {
    let emu = emulator(&["alias=k8s"]).await;
    let home = tempfile::tempdir().unwrap();
    let env = Environment::from_pairs([
        ("HOME", home.path().display().to_string()),
        ("SECRETKMS_ECS_METADATA_ENDPOINT", emu.url.clone()),
    ]);
    let (kms, provider) = kms_with(&emu, &env).await;
    let creds = provider.credentials().await.unwrap();
    assert_eq!(creds.source, "ecs-ram-role");
    kms.describe_key("alias/k8s").await.unwrap();
}
