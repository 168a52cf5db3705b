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
# Stops the build if the script ends before waiting for it; once waited for, its group id may
# belong to another process, so it is no longer signalled.
trap '[[ -z $image_pid ]] || kill -- "-$image_pid" 2>/dev/null || true; rm -f "$image_out" "$image_log"' EXIT

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

say "cargo test (unit, component and real-cluster tests)"
cargo test --workspace --locked --no-fail-fast
say "all tests passed in $((SECONDS - start))s"
