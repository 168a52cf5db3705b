#!/usr/bin/env bash
# The whole test suite, on a real kube-apiserver and etcd: formatting, lints, unit tests, and the
# real-cluster tests. Installs what it needs first (idempotently, into ~/.cache/secretkms).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"
start=$SECONDS

say "toolchains"
ensure_rust
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
say "the webhook's image (static dist build, OCI layout by umoci; cached) and runc to run it"
ensure_debian_packages runc
SECRETKMS_IMAGE_DIR=$(bash hack/image.sh | tail -n1)
export SECRETKMS_IMAGE_DIR

say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo test (unit, component and real-cluster tests)"
cargo test --workspace --locked --no-fail-fast
say "all tests passed in $((SECONDS - start))s"
