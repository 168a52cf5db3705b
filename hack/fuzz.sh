#!/usr/bin/env bash
# Fuzzes AdmissionReview decoding and the policy input path (fuzz/, cargo-fuzz + libFuzzer).
#
#   hack/fuzz.sh [seconds-per-target]   fuzz each target (default 300 s), starting from the
#                                       committed corpus; new inputs go to fuzz/corpus-work/
#   hack/fuzz.sh cmin                   merge fuzz/corpus-work/ into the committed corpus,
#                                       minimised (cargo fuzz cmin), small inputs only
#   hack/fuzz.sh run <target> [args]    any `cargo fuzz run` (e.g. to replay an artifact)
#
# Targets: review_decode (`Review::decode` on arbitrary bytes) and policy_input (decode, then
# `PolicySet::evaluate` with the builtin policies against several states; a builtin that traps
# fails the run). A crash leaves its input in fuzz/artifacts/<target>/; add the fixed input to
# fuzz/corpus/<target>/ so webhook/tests/fuzz_corpus.rs replays it under plain `cargo test`.
#
# cargo-fuzz needs nightly compiler flags; with the pinned stable toolchain RUSTC_BOOTSTRAP=1
# unlocks them. cargo-fuzz itself is installed once into $SECRETKMS_CACHE/cargo-bin.
# FUZZ_SANITIZER: none (default; our crates have no unsafe code, so libFuzzer's panic and
# debug-assertion checks are what matters, at several times the speed) or address.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_rust

CARGO_FUZZ_VERSION=0.13.2
TARGETS=(review_decode policy_input)
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
  *)
    seconds=${1:-300}
    for t in "${TARGETS[@]}"; do
      mkdir -p fuzz/corpus-work/"$t"
      say "fuzzing $t for ${seconds}s"
      fuzz run "$t" fuzz/corpus-work/"$t" fuzz/corpus/"$t" -- -max_total_time="$seconds" "${flags[@]}"
    done
    ;;
esac
