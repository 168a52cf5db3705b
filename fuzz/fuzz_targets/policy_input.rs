//! The policy input path: decode a review, then evaluate it with the builtin policies against
//! several encryption states.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        secretkms_fuzz::policies();
        secretkms_fuzz::states();
    },
    |data: &[u8]| {
        secretkms_fuzz::check_evaluate(data);
    }
);
