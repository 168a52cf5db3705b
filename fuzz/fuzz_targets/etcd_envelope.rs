//! The etcd envelope reader: `EncryptedObject::from_stored` (the `k8s:enc:kms:v2:<name>:` prefix,
//! then the protobuf), and the protobuf alone; what decodes re-encodes and decodes the same.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    secretkms_fuzz::check_etcd_envelope(data);
});
