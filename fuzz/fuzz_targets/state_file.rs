//! The state file (`--state-file`): `state_file::parse` on arbitrary bytes, as the webhook reads
//! them at start-up and on every change. What parses re-serialises and reads back the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secretkms_fuzz::check_state_file(data);
});
