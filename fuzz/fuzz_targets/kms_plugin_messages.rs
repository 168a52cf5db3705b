//! The KMS plugin's protobuf messages (v2 and v1beta1 requests and responses) on arbitrary bytes,
//! and what the plugin does with a decoded Decrypt request before calling KMS: the key claim of
//! its key_id and annotations, the key_id parse.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secretkms_fuzz::check_kms_plugin_message(data);
});
