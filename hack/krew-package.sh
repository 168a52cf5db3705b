#!/usr/bin/env bash
# Packages the kubectl plugin for krew the way packaging/krew/secretkms.yaml describes: one
# `kubectl-secretkms_<version>_<os>_<arch>.tar.gz` holding `kubectl-secretkms`,
# `kubectl_complete-secretkms` and LICENSE at its root, and beside it a copy of the manifest whose
# entry for that platform carries the archive's sha256 (what a release fills in, by hand or with
# krew-release-bot). Prints the archive's path, then the manifest's.
#
#   hack/krew-package.sh --plugin target/x86_64-unknown-linux-musl/dist/kubectl-secretkms \
#     --complete target/x86_64-unknown-linux-musl/dist/kubectl_complete-secretkms --out dist/
#   kubectl krew install --manifest=dist/secretkms.yaml --archive=dist/kubectl-secretkms_v0.1.0_linux_amd64.tar.gz
#
# --os and --arch (default: this machine's, as krew names them) choose the manifest entry.
# The archive is reproducible: sorted names, owner 0, mtime 0; the binaries are stripped.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MANIFEST=$REPO/packaging/krew/secretkms.yaml
LICENSE=$REPO/packaging/LICENSE

die() { echo "krew-package: $*" >&2; exit 2; }

plugin="" complete="" out="" os=linux arch=""
case $(uname -m) in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
[[ $(uname -s) == Darwin ]] && os=darwin
while [[ $# -gt 0 ]]; do
  case $1 in
    --plugin) plugin=$2; shift 2 ;;
    --complete) complete=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --os) os=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    *) die "unknown argument '$1' (expected --plugin, --complete, --out, --os, --arch)" ;;
  esac
done
[[ -x $plugin ]] || die "--plugin must name the kubectl-secretkms executable (got '$plugin')"
[[ -x $complete ]] || die "--complete must name the kubectl_complete-secretkms executable (got '$complete')"
[[ -n $out ]] || die "--out DIR is required"
[[ -f $LICENSE ]] || die "$LICENSE is missing"

version=$(sed -n 's/^  version: *//p' "$MANIFEST")
[[ $version == v* ]] || die "no spec.version in $MANIFEST"
name=kubectl-secretkms_${version}_${os}_${arch}.tar.gz

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# Stripped, as the dist profile builds them (a no-op there; a debug build shrinks fivefold).
install -s -m 0755 "$plugin" "$stage/kubectl-secretkms"
install -s -m 0755 "$complete" "$stage/kubectl_complete-secretkms"
install -m 0644 "$LICENSE" "$stage/LICENSE"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -C "$stage" \
  -cf - kubectl-secretkms kubectl_complete-secretkms LICENSE | gzip -n >"$out/$name"
sha=$(sha256sum "$out/$name" | cut -d' ' -f1)

# The manifest with this platform's sha256: a platform entry starts at `- selector:`; its
# matchLabels name os and arch before its sha256 line.
awk -v os="$os" -v arch="$arch" -v sha="$sha" '
  /^    - selector:/ { o = ""; a = ""; }
  /^          os: /  { o = $2 }
  /^          arch: / { a = $2 }
  /^      sha256: / && o == os && a == arch { sub(/".*"/, "\"" sha "\""); done = 1 }
  { print }
  END { if (!done) exit 3 }
' "$MANIFEST" >"$out/secretkms.yaml" || die "$MANIFEST has no platform entry for os $os, arch $arch"

echo "$out/$name"
echo "$out/secretkms.yaml"
