#!/usr/bin/env bash
# Builds the webhook's container image here, daemonless and from nothing (no base image, no
# registry): a static binary from the `dist` profile, the build machine's CA bundle (Debian's
# ca-certificates), /etc/passwd and /etc/group naming the non-root user 65532, and nothing else,
# as an OCI image layout written by umoci (Debian's package). Prints the layout's directory last.
#
#   hack/image.sh                 # -> $SECRETKMS_CACHE/image/secretkms-webhook-<version>
#   IMAGE_DIR=/tmp/img hack/image.sh
#   IMAGE_TARGET_DIR=/tmp/t hack/image.sh  # cargo's output; default $SECRETKMS_CACHE/target-image
#
# The binary is glibc's static build (`-C target-feature=+crt-static` on the gnu target), not
# musl: the pinned toolchain has no musl standard library on this machine, and rustup's download
# of one is not reachable. glibc 2.34+ carries the `files` and `dns` name services inside libc,
# so the static binary resolves names from /etc/hosts and /etc/resolv.conf (which the kubelet
# mounts) without loading any NSS module.
#
# Copy the layout elsewhere with `skopeo copy oci:<dir>:<tag> docker://<registry>/...`.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO"

ensure_rust
use_image_target_dir
# Until 2026-12-04 this build went to the everyday target directory: that output (gigabytes of
# fat-LTO artifacts) is no longer used by anything, so it goes once the build has moved.
[[ $CARGO_TARGET_DIR -ef $SECRETKMS_CACHE/target ]] \
  || rm -rf "$SECRETKMS_CACHE/target/$(uname -m)-unknown-linux-gnu/dist"
ensure_debian_packages umoci
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[[ -s $ca_bundle ]] || die "$ca_bundle is missing (Debian: apt-get install ca-certificates)"

version=$(cargo metadata --no-deps --format-version 1 --locked \
  | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="secretkms-webhook"))')
tag=$version
out=${IMAGE_DIR:-$SECRETKMS_CACHE/image/secretkms-webhook-$version}
target="$(uname -m)-unknown-linux-gnu"
uid=65532

say "static secretkms-webhook ($target, dist profile)"
# --target keeps RUSTFLAGS off the host's build scripts and proc macros, and the output apart
# from the ordinary builds (target/<triple>/dist), so neither invalidates the other's cache.
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --locked --profile dist -p secretkms-webhook --target "$target"
bin="$CARGO_TARGET_DIR/$target/dist/secretkms-webhook"
if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q 'NEEDED'; then
  die "$bin is not static: $(readelf -dW "$bin" | grep NEEDED | tr -s ' ' | tr '\n' ' ')"
fi

say "OCI layout in $out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$(dirname "$out")"
umoci init --layout "$out"
umoci new --image "$out:$tag"
umoci unpack --image "$out:$tag" "$work/bundle" >/dev/null
root="$work/bundle/rootfs"
install -D -m 0755 "$bin" "$root/secretkms-webhook"
install -D -m 0644 "$ca_bundle" "$root/etc/ssl/certs/ca-certificates.crt"
install -D -m 0644 /dev/stdin "$root/etc/passwd" <<<"nonroot:x:$uid:$uid:nonroot:/nonexistent:/sbin/nologin"
install -D -m 0644 /dev/stdin "$root/etc/group" <<<"nonroot:x:$uid:"
umoci repack --image "$out:$tag" "$work/bundle"
umoci config --image "$out:$tag" \
  --config.user "$uid:$uid" \
  --config.entrypoint /secretkms-webhook \
  --config.exposedports 8443/tcp --config.exposedports 9090/tcp \
  --config.workingdir / \
  --clear config.env --config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
  --config.label org.opencontainers.image.title=secretkms-webhook \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label org.opencontainers.image.licenses=Apache-2.0 \
  --config.label "org.opencontainers.image.description=Validating admission webhook that denies Secret writes while KMS encryption is misconfigured" \
  --history.created_by "hack/image.sh"
umoci gc --layout "$out"

binary_bytes=$(stat -c %s "$bin")
image_bytes=$(du -sb "$out/blobs" | cut -f1)
ca_version=$(dpkg-query -W -f '${Version}' ca-certificates 2>/dev/null || echo unknown)
say "image $out:$tag: binary $binary_bytes bytes, image blobs $image_bytes bytes (CA bundle from ca-certificates $ca_version)"
echo "$out"
