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

    // Each refusal names what to change: (the --set values, text the error must hold).
    let refusals: [(&[&str], &[&str]); 5] = [
        // A typo fails the install through values.schema.json, naming the key.
        (
            &["secretEncryption.key=k", "webhook.failurPolicy=Fail"],
            &["failurPolicy", "not allowed"],
        ),
        // A wrong enum value too.
        (
            &["secretEncryption.key=k", "webhook.failurePolicy=Never"],
            &["failurePolicy"],
        ),
        // No key to guard: refused with the fix, rather than a webhook guarding nothing.
        (&[], &["secretEncryption.key is required"]),
        // Both credential kinds at once.
        (
            &[
                "secretEncryption.key=k",
                "credentials.rrsa.enabled=true",
                "credentials.rrsa.roleName=r",
                "credentials.accessKey.existingSecret=s",
            ],
            &["choose one"],
        ),
        // mTLS without the metrics port: the kubelet could not probe the pod.
        (
            &[
                "secretEncryption.key=k",
                "tls.clientCA.configMap=ca",
                "metrics.enabled=false",
            ],
            &["tls.clientCA.configMap needs metrics.enabled"],
        ),
    ];
    for (values, needles) in refusals {
        let args: Vec<&str> = values.iter().flat_map(|v| ["--set", v]).collect();
        let err = chart::template(cp, RELEASE, NAMESPACE, &args)
            .expect_err(&format!("{values:?} is refused"))
            .to_string();
        for needle in needles {
            assert!(err.contains(needle), "{values:?}: {err}");
        }
    }
}
