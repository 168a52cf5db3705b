//! The committed corpus of the `kms_plugin_messages` fuzz target (fuzz/corpus/kms_plugin_messages/)
//! as a plain regression test: every input is decoded as each of the plugin's protobuf messages
//! with the properties the fuzz target asserts (fuzz/src/lib.rs): what decodes re-encodes and
//! decodes equal; a v2 Decrypt request's key_id prints back and its key claim agrees with the key
//! it names exactly when it has no conflicts.

use std::fmt::Debug;
use std::path::Path;

use prost::Message;
use secretkms_kms_plugin::key_claim::KeyClaim;
use secretkms_kms_plugin::key_id::{KeyVersionRef, MAX_KEY_ID_LEN};
use secretkms_kms_plugin::proto::{v1beta1, v2};

fn round_trip<M: Message + Default + PartialEq + Debug>(data: &[u8]) -> Option<M> {
    let m = M::decode(data).ok()?;
    let again = M::decode(m.encode_to_vec().as_slice()).expect("re-encoded message decodes");
    assert_eq!(again, m, "the message changed through the wire");
    Some(m)
}

#[test]
fn every_corpus_input_decodes_or_fails_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/kms_plugin_messages");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the committed corpus is missing");
    let (mut claims, mut ours) = (0, 0);
    for path in &files {
        let data = std::fs::read(path).unwrap();
        round_trip::<v2::StatusRequest>(&data);
        round_trip::<v2::StatusResponse>(&data);
        round_trip::<v2::EncryptRequest>(&data);
        round_trip::<v2::EncryptResponse>(&data);
        round_trip::<v2::DecryptResponse>(&data);
        round_trip::<v1beta1::VersionRequest>(&data);
        round_trip::<v1beta1::VersionResponse>(&data);
        round_trip::<v1beta1::EncryptRequest>(&data);
        round_trip::<v1beta1::EncryptResponse>(&data);
        round_trip::<v1beta1::DecryptRequest>(&data);
        round_trip::<v1beta1::DecryptResponse>(&data);
        let Some(req) = round_trip::<v2::DecryptRequest>(&data) else {
            continue;
        };
        if let Ok(r) = KeyVersionRef::parse(&req.key_id) {
            assert!(req.key_id.len() <= MAX_KEY_ID_LEN);
            assert_eq!(r.to_string(), req.key_id, "{}", path.display());
            ours += 1;
        }
        let claim = KeyClaim::from_v2(&req.key_id, &req.annotations);
        if claim.key.is_some() {
            claims += 1;
        }
        let agreeing = KeyVersionRef::new(
            claim.key.clone().unwrap_or_else(|| "key-fuzz".into()),
            claim
                .version
                .clone()
                .unwrap_or_else(|| "version-fuzz".into()),
        );
        assert_eq!(
            claim.disagreement(&agreeing).is_some(),
            !claim.conflicts.is_empty(),
            "{}: {claim:?}",
            path.display()
        );
    }
    // The corpus keeps real Decrypt requests: ours and Alibaba's plugin's.
    assert!(ours >= 1, "no corpus input has our key_id");
    assert!(claims >= 2, "only {claims} inputs name a key");
}
