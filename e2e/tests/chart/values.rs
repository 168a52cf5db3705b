//! The chart's values: `helm lint --strict` passes with every `ci/*-values.yaml`, and
//! values.schema.json and the templates refuse typos, wrong enums, a missing key and
//! contradictory credentials, each naming the fix.

use secretkms_e2e::ControlPlane;
use secretkms_e2e::chart;

use super::{NAMESPACE, RELEASE, name_of, ok};

#[test]
fn lints_strict_with_every_ci_values_file_and_refuses_bad_values() {
    let cp = ControlPlane::shared();
    let chart = chart::chart_dir();
    let files = chart::ci_values_files().unwrap();
    assert!(files.len() >= 6, "ci values files: {files:?}");
    for file in &files {
        let out = chart::helm(
            cp,
            &[
                "lint",
                "--strict",
                chart.to_str().unwrap(),
                "-f",
                file.to_str().unwrap(),
            ],
        )
        .unwrap();
        ok(&out, &format!("helm lint --strict -f {}", name_of(file)));
    }

    // A typo fails the install through values.schema.json, naming the key.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "webhook.failurPolicy=Fail",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("failurPolicy") && err.contains("not allowed"),
        "{err}"
    );
    // A wrong enum value too.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "webhook.failurePolicy=Never",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("failurePolicy"), "{err}");
    // No key to guard: refused with the fix, rather than a webhook guarding nothing.
    let err = chart::template(cp, RELEASE, NAMESPACE, &[])
        .unwrap_err()
        .to_string();
    assert!(err.contains("secretEncryption.key is required"), "{err}");
    // Both credential kinds at once: refused.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "credentials.rrsa.enabled=true",
            "--set",
            "credentials.rrsa.roleName=r",
            "--set",
            "credentials.accessKey.existingSecret=s",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("choose one"), "{err}");
    // mTLS without the metrics port: the kubelet could not probe the pod.
    let err = chart::template(
        cp,
        RELEASE,
        NAMESPACE,
        &[
            "--set",
            "secretEncryption.key=k",
            "--set",
            "tls.clientCA.configMap=ca",
            "--set",
            "metrics.enabled=false",
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("tls.clientCA.configMap needs metrics.enabled"),
        "{err}"
    );
}
