//! The apiserver's `/readyz?verbose` listing, read for its KMS checks.
//!
//! Which checks exist depends on the encryption configuration (field-facts §1,
//! `k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go`): KMS v2 only, or automatic
//! reload on, gives one check `kms-providers`; any KMS v1 provider without reload gives one check
//! per KMS provider, `kms-provider-0..N-1`. So no single path answers for every layout; the
//! verbose listing names them all. Its lines are written by `healthz.handleRootHealth`:
//! `[+]name ok`, `[+]name excluded: ok`, `[+]name excluded with group: ok`,
//! `[-]name failed: reason withheld`, then `readyz check passed|failed`.

/// One line of the verbose listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// `[+]`: passed or excluded by the caller.
    pub passed: bool,
}

/// The checks of a verbose readyz body, in the apiserver's order. Lines that are not checks
/// (the closing line, warnings) are skipped.
pub fn parse_verbose(body: &str) -> Vec<Check> {
    body.lines()
        .filter_map(|line| {
            let line = line.trim();
            let (passed, rest) = if let Some(rest) = line.strip_prefix("[+]") {
                (true, rest)
            } else if let Some(rest) = line.strip_prefix("[-]") {
                (false, rest)
            } else {
                return None;
            };
            let name = rest.split_whitespace().next()?;
            Some(Check {
                name: name.to_string(),
                passed,
            })
        })
        .collect()
}

/// True for the names the apiserver gives KMS health checks: `kms-providers` (one check for all
/// providers) or `kms-provider-<index>` (one per provider).
pub fn is_kms_check(name: &str) -> bool {
    name == "kms-providers"
        || name
            .strip_prefix("kms-provider-")
            .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shape of a real 1.36 listing with KMS v1 and reload off (trimmed).
    const V1_NO_RELOAD: &str = "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]kms-provider-0 ok\n[-]kms-provider-1 failed: reason withheld\n[+]poststarthook/start-apiserver-admission-initializer ok\n[+]shutdown excluded: ok\nreadyz check failed\n";

    #[test]
    fn every_check_is_read_with_its_result() {
        let checks = parse_verbose(V1_NO_RELOAD);
        let names: Vec<_> = checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ping",
                "log",
                "etcd",
                "kms-provider-0",
                "kms-provider-1",
                "poststarthook/start-apiserver-admission-initializer",
                "shutdown"
            ]
        );
        assert!(checks[3].passed);
        assert!(!checks[4].passed);
        assert!(checks[6].passed, "an excluded check counts as passed");
    }

    #[test]
    fn kms_check_names_cover_both_layouts() {
        assert!(is_kms_check("kms-providers"));
        assert!(is_kms_check("kms-provider-0"));
        assert!(is_kms_check("kms-provider-12"));
        assert!(!is_kms_check("kms-provider-"));
        assert!(!is_kms_check("kms-provider-x"));
        assert!(!is_kms_check("etcd"));
    }
}
