#!/usr/bin/env bash
# The whole test suite, on a real kube-apiserver and etcd: formatting, lints, unit tests, and the
# real-cluster tests. Installs what it needs first (idempotently, into ~/.cache/secretkms).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
start=$SECONDS

say "toolchains, and runc and umoci for the image"
ensure_rust
# Before the background build, so its own check finds umoci and no two apt-get runs race.
ensure_debian_packages runc umoci

# The image's fat-LTO link runs on one core for minutes (in a fresh clone too: the workspace's
# own crates rebuild), so it builds in the background, in its own process group and target
# directory, while the Go tools, clippy and the test build use the other core; only the tests
# wait for it.
say "the webhook's image (static dist build, OCI layout by umoci; cached), in the background"
image_out=$(mktemp)
image_log=$(mktemp)
setsid --wait bash hack/image.sh >"$image_out" 2>"$image_log" &
image_pid=$!
# Stops the background groups (this build, and the tests' second lane below) if the script ends
# before waiting for them; once waited for, a group's id may belong to another process, so it is
# no longer signalled.
second_pid= second_log=
trap 'for g in $image_pid $second_pid; do kill -- "-$g" 2>/dev/null || true; done
      rm -f "$image_out" "$image_log" ${second_log:+"$second_log"}' EXIT

say "control-plane binaries (built from the Go module proxy on first use; cached)"
SECRETKMS_BIN_DIR=$(ensure_control_plane_bins)
export SECRETKMS_BIN_DIR
say "promtool and krew for the alert and krew tests (built from the Go module proxy on first use; cached)"
SECRETKMS_PROMTOOL_DIR=$(ensure_tool promtool)
SECRETKMS_KREW_DIR=$(ensure_tool krew)
export SECRETKMS_PROMTOOL_DIR SECRETKMS_KREW_DIR
say "Alibaba Cloud SDKs for the KMS emulator checks (cached virtualenv)"
SECRETKMS_SDK_PYTHON=$(bash hack/python-sdk.sh)
export SECRETKMS_SDK_PYTHON
use_cached_target_dir

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "the test build"
cargo test --workspace --locked --no-run

say "waiting for the webhook's image (its build's output follows)"
image_rc=0
wait "$image_pid" || image_rc=$?
image_pid=
cat "$image_log" >&2
((image_rc == 0)) || die "hack/image.sh failed (exit $image_rc; its output above)"
SECRETKMS_IMAGE_DIR=$(tail -n1 "$image_out")
export SECRETKMS_IMAGE_DIR

# The real-cluster test binaries spend much of their time waiting on apiservers, etcd and KMS
# (one after another, the tests kept ~1 of the 2 cores busy), so they run in two lanes side by
# side. The second lane is the e2e binaries named here, picked by their durations on
# 2026-12-04 (rotation_reach 108 s, webhook 92 s, monitor 88 s, kms_v2 45 s, layouts 24 s,
# chart 20 s: about 380 s of the ~810); the first is everything else, so a new test binary
# runs without being listed.
beside=(rotation_reach webhook monitor kms_v2 layouts chart)
# `--workspace --exclude` each other package, not `-p secretkms-e2e`: cargo unifies the
# dependencies' features over the packages selected, so `-p` would rebuild them all.
metadata=$(cargo metadata --no-deps --format-version 1 --locked)
mapfile -t others < <(python3 -c '
import json, sys
for p in json.loads(sys.argv[1])["packages"]:
    if p["name"] != "secretkms-e2e": print("--exclude", p["name"], sep="\n")' "$metadata")
mapfile -t e2e_tests < <(python3 -c '
import json, sys
e2e = next(p for p in json.loads(sys.argv[1])["packages"] if p["name"] == "secretkms-e2e")
print("\n".join(sorted(t["name"] for t in e2e["targets"] if "test" in t["kind"])))' "$metadata")
e2e=(cargo test --workspace "${others[@]}" --locked)
first=()
for t in "${e2e_tests[@]}"; do
  [[ " ${beside[*]} " == *" $t "* ]] || first+=(--test "$t")
done
second=()
for t in "${beside[@]}"; do
  [[ " ${e2e_tests[*]} " == *" $t "* ]] || die "hack/test.sh names an e2e test binary that does not exist: $t"
  second+=(--test "$t")
done

say "cargo test (unit, component and real-cluster tests), in two lanes; the second's output follows the first's"
second_log=$(mktemp)
# Its own process group, as the image's build: stopped with its apiservers if this script ends.
setsid --wait "${e2e[@]}" --no-fail-fast "${second[@]}" >"$second_log" 2>&1 &
second_pid=$!
first_rc=0
cargo test --workspace --exclude secretkms-e2e --locked --no-fail-fast || first_rc=$?
"${e2e[@]}" --no-fail-fast --lib --bins "${first[@]}" || first_rc=$?
"${e2e[@]}" --doc || first_rc=$?
second_rc=0
wait "$second_pid" || second_rc=$?
second_pid=
say "the second lane: ${beside[*]}"
cat "$second_log"
((first_rc == 0 && second_rc == 0)) || die "tests failed (first lane exit $first_rc, second lane exit $second_rc; their output above)"
say "all tests passed in $((SECONDS - start))s"
