//! AdmissionReview decoding (`Review::decode`) on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secretkms_fuzz::check_decode(data);
});
