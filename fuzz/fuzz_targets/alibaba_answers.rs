//! Alibaba Cloud answers: the OpenAPI client's `decode_answer` (KMS, STS, RAM... bodies, 2xx or
//! error), the STS credential answer and the ECS metadata credentials, on arbitrary bodies. The
//! first byte picks the HTTP status. No error message may quote the request's secrets.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secretkms_fuzz::check_alibaba_answer(data);
});
