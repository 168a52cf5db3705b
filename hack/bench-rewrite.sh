#!/usr/bin/env bash
# Benchmark (reported, not asserted): `kubectl secretkms rewrite` vs the seed's pipeline
# `kubectl get secrets -o json | kubectl annotate --overwrite -f - encryption-key-rotation-time=T`
# on the same Secrets and the same apiserver (the test control plane, `secretkms-dev up`).
# Prints wall time and peak RSS (GNU time's "Maximum resident set size": for the pipeline, the
# largest single process) for 1,000 and 5,000 Secrets of ~1 KiB.
#
#   hack/bench-rewrite.sh            # counts 1000 5000
#   COUNTS="5000" hack/bench-rewrite.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/plugin}"
PROFILE="${PROFILE:-release}"
COUNTS="${COUNTS:-1000 5000}"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build -q "${flag[@]}" -p kubectl-secretkms --bin kubectl-secretkms
cargo build -q -p secretkms-e2e --bin secretkms-dev
plugin="$CARGO_TARGET_DIR/$PROFILE/kubectl-secretkms"
bins="${SECRETKMS_BIN_DIR:-$(hack/control-plane-bins.sh | tail -1)}"
kubectl="$bins/kubectl"
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 2; }

work=$(mktemp -d)
"$CARGO_TARGET_DIR/debug/secretkms-dev" up >"$work/dev.log" 2>&1 &
dev=$!
trap 'kill $dev 2>/dev/null; wait $dev 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 120); do grep -q '^kubeconfig: ' "$work/dev.log" && break; sleep 1; done
export KUBECONFIG=$(sed -n 's/^kubeconfig: //p' "$work/dev.log")
[ -n "$KUBECONFIG" ] || { cat "$work/dev.log" >&2; exit 2; }

measure() { # label, command...
  /usr/bin/time -f '%e %M' -o "$work/time" "${@:2}" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 2; }
  read -r wall rss <"$work/time"
  printf '%-8s %-10s %8.1f s %8.1f MB\n' "$n" "$1" "$wall" "$(echo "$rss/1024" | bc -l)"
}

printf '%-8s %-10s %10s %11s\n' SECRETS TOOL WALL PEAK_RSS
for n in $COUNTS; do
  ns="bench-$n"
  "$kubectl" create namespace "$ns" >/dev/null
  python3 - "$ns" "$n" >"$work/secrets.json" <<'PY'
import base64, json, sys
ns, n = sys.argv[1], int(sys.argv[2])
items = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s-{i:05}", "namespace": ns},
          "data": {"value": base64.b64encode(f"fake-{i}-".encode() * 64).decode()}} for i in range(n)]
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
  "$kubectl" create -f "$work/secrets.json" >/dev/null
  measure seed sh -c "'$kubectl' get secrets -n $ns -o json | '$kubectl' annotate --overwrite -f - encryption-key-rotation-time=20260101-000000"
  measure secretkms "$plugin" rewrite -n "$ns" --time 20260102-000000 --qps 0 --concurrency 16 -o json
done
