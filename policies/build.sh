#!/usr/bin/env bash
# Builds the default policies as WebAssembly components into policies/dist/<name>.wasm,
# reproducibly (byte for byte across checkouts in different directories), and records the
# toolchain in dist/BUILD-INFO.
#
#   policies/build.sh           build and write dist/
#   policies/build.sh --check   rebuild into a temp dir and compare with dist/ byte for byte;
#                               skips (exit 0) when the toolchain differs from BUILD-INFO's
#
# Toolchain: rustup's wasm32-unknown-unknown target when installed; otherwise Debian's
# rustc-web + rust-web-src + lld-19 with -Zbuild-std. The wasm build uses the root workspace's
# [profile.policy], its own target dir (so host builds keep their fingerprints) and
# --remap-path-prefix for every absolute path that could reach the output.
#
# Exit codes: 0 ok (or check skipped), 1 check found a difference, 2 build or usage error.
set -euo pipefail

mode=build
case "${1:-}" in
  "") ;;
  --check) mode=check ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

policies_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
root=$(dirname "$policies_dir")
dist="$policies_dir/dist"
POLICIES=(secret-write-guard key-change-guard)
target_dir="${SECRETKMS_POLICY_TARGET_DIR:-$root/target/policies-wasm}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"

# --- toolchain -------------------------------------------------------------------------------
# SECRETKMS_POLICY_TOOLCHAIN=rustup|debian forces a choice (default: rustup when it has the target).
choice="${SECRETKMS_POLICY_TOOLCHAIN:-auto}"
cargo_cmd=(cargo)
build_std=()
if [[ $choice != debian ]] && command -v rustup >/dev/null 2>&1 \
   && (cd "$root" && rustup target list --installed 2>/dev/null) | grep -qx wasm32-unknown-unknown; then
  toolchain_kind="rustup wasm32-unknown-unknown"
  rustc_bin=(rustc)
elif [[ $choice != rustup && -x /usr/bin/cargo && -x /usr/lib/llvm-19/bin/wasm-ld ]]; then
  # Debian: apt-get install rustc-web cargo-web rust-web-src lld-19
  toolchain_kind="debian rustc-web build-std"
  cargo_cmd=(/usr/bin/cargo)
  rustc_bin=(/usr/bin/rustc)
  build_std=(-Zbuild-std=std,panic_abort)
  export RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=/usr/lib/llvm-19/bin/wasm-ld
else
  if [[ $mode == check ]]; then
    echo "build.sh --check: SKIPPED: no wasm32-unknown-unknown toolchain on this machine"
    exit 0
  fi
  echo "build.sh: no wasm32 toolchain: run 'rustup target add wasm32-unknown-unknown'" \
       "(or apt-get install rustc-web cargo-web rust-web-src lld-19)" >&2
  exit 2
fi
rustc_version=$(cd "$root" && "${rustc_bin[@]}" -V)
sysroot=$(cd "$root" && "${rustc_bin[@]}" --print sysroot)

if [[ $mode == check ]]; then
  if [[ ! -f "$dist/BUILD-INFO" ]]; then
    echo "build.sh --check: $dist/BUILD-INFO is missing; run policies/build.sh" >&2
    exit 1
  fi
  pinned_rustc=$(sed -n 's/^rustc: //p' "$dist/BUILD-INFO")
  pinned_kind=$(sed -n 's/^toolchain: //p' "$dist/BUILD-INFO")
  if [[ "$pinned_rustc" != "$rustc_version" || "$pinned_kind" != "$toolchain_kind" ]]; then
    echo "build.sh --check: SKIPPED: dist/ was built with '$pinned_rustc' ($pinned_kind)," \
         "this machine has '$rustc_version' ($toolchain_kind); outputs would differ"
    exit 0
  fi
fi

# --- build -----------------------------------------------------------------------------------
# One flag per \x1f-separated field, so paths with spaces survive.
flags=(
  "--remap-path-prefix=$root=/secretkms"
  "--remap-path-prefix=$cargo_home/registry=/cargo/registry"
  "--remap-path-prefix=$cargo_home/git=/cargo/git"
  "--remap-path-prefix=$target_dir=/target"
  "--remap-path-prefix=$sysroot=/rust-sysroot"
)
encoded=$(IFS=$'\x1f'; echo "${flags[*]}")

packages=()
for p in "${POLICIES[@]}"; do packages+=(-p "$p"); done

echo "build.sh: building ${POLICIES[*]} with $rustc_version ($toolchain_kind)" >&2
(
  cd "$root"
  unset RUSTFLAGS
  CARGO_ENCODED_RUSTFLAGS="$encoded" CARGO_TARGET_DIR="$target_dir" \
    "${cargo_cmd[@]}" build --quiet --profile policy --target wasm32-unknown-unknown \
    "${build_std[@]}" "${packages[@]}"
) || { echo "build.sh: the wasm build failed" >&2; exit 2; }

# The helper runs on the host with the developer's normal toolchain and no remapping.
(
  cd "$root"
  unset RUSTFLAGS CARGO_ENCODED_RUSTFLAGS RUSTC RUSTC_BOOTSTRAP
  CARGO_TARGET_DIR="$target_dir" cargo build --quiet -p secretkms-componentize
) || { echo "build.sh: building the componentize helper failed" >&2; exit 2; }
componentize="$target_dir/debug/secretkms-componentize"

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for p in "${POLICIES[@]}"; do
  core="$target_dir/wasm32-unknown-unknown/policy/${p//-/_}.wasm"
  "$componentize" encode "$core" "$out/$p.wasm" || exit 2
done

# --- check or publish ------------------------------------------------------------------------
if [[ $mode == check ]]; then
  status=0
  for p in "${POLICIES[@]}"; do
    if ! cmp -s "$out/$p.wasm" "$dist/$p.wasm"; then
      echo "build.sh --check: DIFFERENT: policies/dist/$p.wasm does not match a fresh build" \
           "($(wc -c <"$out/$p.wasm") bytes built, $(wc -c <"$dist/$p.wasm" 2>/dev/null || echo 0)" \
           "committed); run policies/build.sh and commit dist/" >&2
      status=1
    else
      echo "build.sh --check: policies/dist/$p.wasm matches ($(wc -c <"$out/$p.wasm") bytes)"
    fi
  done
  exit $status
fi

mkdir -p "$dist"
{
  echo "# Written by policies/build.sh. --check rebuilds only with this exact toolchain."
  echo "toolchain: $toolchain_kind"
  echo "rustc: $rustc_version"
  echo "profile: policy (opt-level s, lto, codegen-units 1, panic abort, strip)"
  for p in "${POLICIES[@]}"; do
    cp "$out/$p.wasm" "$dist/$p.wasm"
    echo "sha256: $(sha256sum "$dist/$p.wasm" | cut -d' ' -f1)  $p.wasm ($(wc -c <"$dist/$p.wasm") bytes)"
  done
} >"$dist/BUILD-INFO.tmp"
mv "$dist/BUILD-INFO.tmp" "$dist/BUILD-INFO"
cat "$dist/BUILD-INFO"
