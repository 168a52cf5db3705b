//! The policy configuration (`--policy-config`): `PolicyConfig::from_yaml` on arbitrary text;
//! every source that parses prints as text that parses back to it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secretkms_fuzz::check_policy_config(data);
});
