#!/usr/bin/env bash
# The demo: the whole system on a local, real control plane, with built-in defaults.
# Installs what it needs first (idempotently, into ~/.cache/secretkms).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"

say "toolchains"
ensure_rust
say "control-plane binaries (built from the Go module proxy on first use; cached)"
SECRETKMS_BIN_DIR=$(ensure_control_plane_bins)
export SECRETKMS_BIN_DIR
use_cached_target_dir
say "building secretkms"
cargo build --workspace --bins --locked --quiet
say "running the demo"
exec "$CARGO_TARGET_DIR/debug/secretkms-demo" "$@"
