//! Runs every folder under `cases/` (the format `kubectl secretkms policy test` reads) against
//! the policy's native build, so the shipped cases are proven to hold.

use std::path::Path;

use secretkms_policy_kit::cases::run_cases;

#[test]
fn every_case_holds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    match run_cases::<key_change_guard::KeyChangeGuard>(&dir) {
        Ok(n) => assert!(n >= 15, "only {n} cases in {}", dir.display()),
        Err(failures) => panic!(
            "{} failing case(s):\n{}",
            failures.len(),
            failures.join("\n")
        ),
    }
}
