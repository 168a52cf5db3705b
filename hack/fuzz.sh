#!/usr/bin/env bash
# Fuzzes the parsers of untrusted input (fuzz/, cargo-fuzz + libFuzzer).
#
#   hack/fuzz.sh [seconds-per-target]   fuzz each target (default 300 s), starting from the
#                                       committed corpus; new inputs go to fuzz/corpus-work/
#   hack/fuzz.sh runs <n> [target...]   fuzz each target (default: all) for n executions
#                                       (the README's figures: n = 1000000)
#   hack/fuzz.sh build                  build every target
#   hack/fuzz.sh cmin                   merge fuzz/corpus-work/ into the committed corpus,
#                                       minimised (cargo fuzz cmin), small inputs only
#   hack/fuzz.sh run <target> [args]    any `cargo fuzz run` (e.g. to replay an artifact)
#
# Targets (fuzz/fuzz_targets/, their properties in fuzz/src/lib.rs):
#   review_decode        `Review::decode` on arbitrary bytes
#   policy_input         decode, then `PolicySet::evaluate` with the builtin policies against
#                        several states (a builtin that traps fails the run)
#   state_file           the `--state-file` parser (`state_file::parse`), JSON round trip
#   policy_config        the `--policy-config` parser (`PolicyConfig::from_yaml`)
#   alibaba_answers      OpenAPI answers (`openapi::decode_answer`), STS and ECS-metadata
#                        credentials; errors never quote the request's secrets
#   etcd_envelope        the etcd KMS v2 envelope reader (`EncryptedObject::from_stored`)
#   kms_plugin_messages  the plugin's v2/v1beta1 protobuf messages, a Decrypt request's key claim
# A crash leaves its input in fuzz/artifacts/<target>/; add the fixed input to
# fuzz/corpus/<target>/ so the replay tests (webhook/tests/fuzz_corpus.rs,
# alibaba/tests/fuzz_corpus.rs, kms-plugin/tests/fuzz_corpus.rs, e2e/src/kms/encrypted_object.rs)
# run it under plain `cargo test`.
#
# cargo-fuzz needs nightly compiler flags; with the pinned stable toolchain RUSTC_BOOTSTRAP=1
# unlocks them. cargo-fuzz itself is installed once into $SECRETKMS_CACHE/cargo-bin.
# FUZZ_SANITIZER: none (default; our crates have no unsafe code, so libFuzzer's panic and
# debug-assertion checks are what matters, at several times the speed) or address.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_rust

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(review_decode policy_input state_file policy_config alibaba_answers etcd_envelope kms_plugin_messages)
SANITIZER=${FUZZ_SANITIZER:-none}
CARGO_BIN=$SECRETKMS_CACHE/cargo-bin
export PATH=$CARGO_BIN/bin:$PATH
if ! cargo fuzz --version 2>/dev/null | grep -q "$CARGO_FUZZ_VERSION"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_BIN"
  cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$CARGO_BIN"
fi
export RUSTC_BOOTSTRAP=1
cd "$REPO"
# The fuzz crate has its own workspace and target dir (fuzz/target): its flags differ.
unset CARGO_TARGET_DIR

fuzz() { cargo fuzz "$1" --fuzz-dir fuzz --sanitizer "$SANITIZER" --debug-assertions "${@:2}"; }
flags=(-max_len=16384 -timeout=10 -rss_limit_mb=4096 -dict=fuzz/review.dict -print_final_stats=1)

case ${1:-} in
  cmin)
    for t in "${TARGETS[@]}"; do
      merged=$(mktemp -d)
      cp fuzz/corpus/"$t"/* "$merged"/
      [[ -d fuzz/corpus-work/$t ]] && find fuzz/corpus-work/"$t" -type f -size -4k -exec cp {} "$merged"/ \;
      say "$t: minimising $(ls "$merged" | wc -l) inputs"
      fuzz cmin "$t" "$merged" -- -max_len=4096
      rm -rf fuzz/corpus/"$t" && mkdir -p fuzz/corpus/"$t" && cp "$merged"/* fuzz/corpus/"$t"/
      rm -rf "$merged"
      say "$t: $(ls fuzz/corpus/"$t" | wc -l) inputs kept"
    done
    ;;
  run)
    shift
    fuzz run "$@"
    ;;
  build)
    fuzz build
    ;;
  runs)
    runs=${2:?hack/fuzz.sh runs <n> [target...]}
    shift 2
    (($#)) && TARGETS=("$@")
    for t in "${TARGETS[@]}"; do
      mkdir -p fuzz/corpus-work/"$t"
      say "fuzzing $t for $runs executions"
      fuzz run "$t" fuzz/corpus-work/"$t" fuzz/corpus/"$t" -- -runs="$runs" "${flags[@]}"
    done
    ;;
  *)
    seconds=${1:-300}
    for t in "${TARGETS[@]}"; do
      mkdir -p fuzz/corpus-work/"$t"
      say "fuzzing $t for ${seconds}s"
      fuzz run "$t" fuzz/corpus-work/"$t" fuzz/corpus/"$t" -- -max_total_time="$seconds" "${flags[@]}"
    done
    ;;
esac
