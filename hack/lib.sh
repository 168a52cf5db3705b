# Shared by hack/test.sh and hack/demo.sh: installs what the project needs, idempotently, into a
# cache outside the clone (SECRETKMS_CACHE, default ~/.cache/secretkms). Sourced, not run.

SECRETKMS_CACHE=${SECRETKMS_CACHE:-$HOME/.cache/secretkms}
export SECRETKMS_CACHE
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

# Rust: rustup reads rust-toolchain.toml and installs the pinned toolchain and targets itself.
ensure_rust() {
  if ! command -v cargo >/dev/null; then
    [[ -x $HOME/.cargo/bin/cargo ]] && export PATH=$HOME/.cargo/bin:$PATH
  fi
  command -v rustup >/dev/null || die "rustup is not installed; install it (https://rustup.rs) and re-run"
  (cd "$REPO" && rustup show active-toolchain >/dev/null 2>&1) || (cd "$REPO" && rustup toolchain install) \
    || die "could not install the Rust toolchain pinned in rust-toolchain.toml"
  # rustup adds rust-toolchain.toml's targets only when it installs the toolchain itself; a
  # machine that came with 1.95.0 lacks the policies' wasm target (the dist check needs it).
  (cd "$REPO" && rustup target list --installed | grep -qx wasm32-unknown-unknown) \
    || (cd "$REPO" && rustup target add wasm32-unknown-unknown) \
    || die "could not add the wasm32-unknown-unknown target (the default policies build with it)"
}

# Go builds kube-apiserver, kubectl, etcd and helm from the Go module proxy.
ensure_go() {
  command -v go >/dev/null || die "Go 1.26 is needed to build kube-apiserver and etcd from the Go module proxy; install it and re-run"
}

# Prints the directory with kube-apiserver, kubectl, etcd, etcdctl and helm (built once, cached).
ensure_control_plane_bins() {
  ensure_go
  bash "$REPO/hack/control-plane-bins.sh" kube etcd helm | tail -n1
}

# Prints the directory with an upstream tool the tests run besides the control plane, `promtool`
# or `krew` (built once from the Go module proxy by the same script, cached by version).
ensure_tool() {
  ensure_go
  bash "$REPO/hack/control-plane-bins.sh" "$1" | tail -n1
}

# Debian packages the tests run (umoci and runc for the image): installed with apt-get when a
# command is missing, so a bare Debian machine needs nothing done by hand.
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do command -v "$pkg" >/dev/null || missing+=("$pkg"); done
  ((${#missing[@]})) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  say "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2 \
    || { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; } \
    || die "could not install ${missing[*]} with apt-get"
}

# Cargo's build output is cached outside the clone too, so a fresh clone reuses compiled
# dependencies (only the workspace's own crates are rebuilt).
use_cached_target_dir() {
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$SECRETKMS_CACHE/target}
}

# The image's static `dist` build (hack/image.sh) has a target directory of its own: it shares no
# artifacts with the everyday builds (another profile, and --target), and apart neither waits on
# the other's lock, so hack/test.sh can build it beside the Go tools, clippy and the test build.
use_image_target_dir() {
  export CARGO_TARGET_DIR=${IMAGE_TARGET_DIR:-$SECRETKMS_CACHE/target-image}
}
