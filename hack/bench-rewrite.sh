#!/usr/bin/env bash
# Benchmark (reported, not asserted): `kubectl secretkms rewrite` with its defaults (the adaptive
# window) vs fixed settings vs ACK's documented pipeline
# `kubectl get secrets -o json | kubectl annotate --overwrite -f - encryption-key-rotation-time=T`
# on the same Secrets and the same apiserver (the test control plane, `secretkms-dev up`, a
# plain cluster: no encryption, so KMS is not what is measured).
#
# For each count of ~1 KiB Secrets and each run it prints wall time, throughput, peak RSS (GNU
# time's "Maximum resident set size": for the pipeline, the largest single process), the
# tool's own CPU, the 429s the rewrite saw (its report's `throttled`), its final and peak
# concurrency, and the CPU seconds kube-apiserver and etcd spent during the run (utime+stime from
# /proc/<pid>/stat before and after), which shows where the ceiling is. Then the ratios of the
# defaults to the best fixed setting and to the pipeline.
#
#   hack/bench-rewrite.sh                 # counts 1000 5000 20000
#   COUNTS="5000" hack/bench-rewrite.sh
#   ROUNDS=1 hack/bench-rewrite.sh        # one round of the client runs instead of 3
#   SECRETKMS_DEV=path/to/secretkms-dev hack/bench-rewrite.sh   # skip building the harness
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/plugin}"
PROFILE="${PROFILE:-release}"
COUNTS="${COUNTS:-1000 5000 20000}"
# Rounds of the three client runs per count (the pipeline runs once: it is the slow baseline).
ROUNDS="${ROUNDS:-3}"
flag=(); [ "$PROFILE" = release ] && flag=(--release)
cargo build -q "${flag[@]}" -p kubectl-secretkms --bin kubectl-secretkms
# SECRETKMS_DEV: a secretkms-dev already built (it only starts the control plane).
dev_bin="${SECRETKMS_DEV:-}"
if [ -z "$dev_bin" ]; then
  cargo build -q "${flag[@]}" -p secretkms-e2e --bin secretkms-dev
  dev_bin="$CARGO_TARGET_DIR/$PROFILE/secretkms-dev"
fi
plugin="$CARGO_TARGET_DIR/$PROFILE/kubectl-secretkms"
bins="${SECRETKMS_BIN_DIR:-$(hack/control-plane-bins.sh | tail -1)}"
kubectl="$bins/kubectl"
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time)" >&2; exit 2; }

work=$(mktemp -d)
"$dev_bin" up >"$work/dev.log" 2>&1 &
dev=$!
# `|| true`: the stack exits 143 on our TERM, and under `set -e` a failing wait would end the
# trap, and the script, with that status.
trap 'rc=$?; kill $dev 2>/dev/null; wait $dev 2>/dev/null || true; rm -rf "$work"; exit $rc' EXIT
for _ in $(seq 120); do grep -q '^kubeconfig: ' "$work/dev.log" && break; sleep 1; done
export KUBECONFIG=$(sed -n 's/^kubeconfig: //p' "$work/dev.log")
[ -n "$KUBECONFIG" ] || { cat "$work/dev.log" >&2; exit 2; }

# The processes secretkms-dev started: etcd listens on the endpoint it printed, and the
# apiserver is the one pointed at it (matched by name, not the watchdog shells around them).
endpoint=$(sed -n 's/^etcd: //p' "$work/dev.log")
pid_of() { # process name
  for p in $(pgrep -x "$1"); do
    tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$endpoint" && { echo "$p"; return; }
  done
  echo "no $1 on $endpoint" >&2; exit 2
}
apiserver=$(pid_of kube-apiserver)
etcd=$(pid_of etcd)

# The runs measured go as a ServiceAccount, not as the harness's admin: system:masters is exempt
# from API Priority and Fairness, so an admin's rewrite could never be throttled and its 429
# count would say nothing. A ServiceAccount falls under the `service-accounts` flow schema
# (priority level `workload-low`), as a CI job's or an operator pod's would. The admin still
# creates the namespaces and Secrets, which are not measured.
admin=$KUBECONFIG
"$kubectl" apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Namespace
metadata: {name: secretkms-bench}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: rewriter, namespace: secretkms-bench}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secretkms-bench-rewriter}
rules:
  # What `status` and the rewrite's rotation evidence read, and the writes themselves.
  - {apiGroups: ["*"], resources: ["*"], verbs: [get, list, watch]}
  - {apiGroups: [""], resources: [secrets], verbs: [patch, update]}
  - {nonResourceURLs: ["*"], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: secretkms-bench-rewriter}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secretkms-bench-rewriter}
subjects: [{kind: ServiceAccount, name: rewriter, namespace: secretkms-bench}]
YAML
"$kubectl" config view --raw --minify >"$work/rewriter.kubeconfig"
KUBECONFIG="$work/rewriter.kubeconfig" "$kubectl" config set-credentials rewriter \
  --token="$("$kubectl" -n secretkms-bench create token rewriter --duration 24h)" >/dev/null
KUBECONFIG="$work/rewriter.kubeconfig" "$kubectl" config set-context --current --user rewriter >/dev/null
export KUBECONFIG="$work/rewriter.kubeconfig"
classified= # the flow schema and priority level of the first rewrite, printed once
tick=$(getconf CLK_TCK)
cpu() { awk -v t="$tick" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat"; } # utime+stime

# The APF classification the rewrite reported, by name; an exempt one would make the 429
# column meaningless, so it ends the run.
classify() { # report
  local fs pl
  fs=$(KUBECONFIG=$admin "$kubectl" get flowschemas -o json \
    | jq -r --arg u "$(jq -r '.apf.flowSchemaUid // ""' "$1")" '.items[] | select(.metadata.uid == $u) | .metadata.name')
  pl=$(KUBECONFIG=$admin "$kubectl" get prioritylevelconfigurations -o json \
    | jq -r --arg u "$(jq -r '.apf.priorityLevelUid // ""' "$1")" '.items[] | select(.metadata.uid == $u) | .metadata.name')
  [ -n "$fs" ] && [ "$fs" != exempt ] \
    || { echo "the rewrite's requests were classified as '${fs:-none}': its 429 count would mean nothing" >&2; exit 2; }
  classified="flow schema $fs, priority level $pl"
  echo "# the rewrite runs as system:serviceaccount:secretkms-bench:rewriter: $classified"
}

row() { printf '%-7s %-24s %7s %8s %8s %7s %6s %9s %9s %8s\n' "$@"; }
measure() { # label, command...
  local a0 e0
  a0=$(cpu "$apiserver"); e0=$(cpu "$etcd")
  /usr/bin/time -f '%e %M %U %S' -o "$work/time" "${@:2}" >"$work/out" 2>"$work/err" \
    || { cat "$work/err" >&2; exit 2; }
  read -r wall rss user sys <"$work/time"
  local api etc throttled=- window=-
  api=$(echo "$(cpu "$apiserver") - $a0" | bc); etc=$(echo "$(cpu "$etcd") - $e0" | bc)
  if [ "$1" != pipeline ]; then
    throttled=$(jq .throttled "$work/out")
    window="$(jq -r '"\(.finalConcurrency)/\(.peakConcurrency)"' "$work/out")"
    [ "$(jq .patched "$work/out")" = "$n" ] || { echo "$1 patched $(jq .patched "$work/out") of $n" >&2; exit 2; }
    [ -n "$classified" ] || classify "$work/out"
  fi
  local rate; rate=$(echo "$n / $wall" | bc)
  echo "$1 $rate" >>"$work/rates-$n"
  row "$n" "$1" "$(printf '%.1fs' "$wall")" "$rate/s" "$(printf '%.1fMB' "$(echo "$rss/1024" | bc -l)")" \
    "$(printf '%.1fs' "$(echo "$user + $sys" | bc)")" "$throttled" "$window" "${api}s" "${etc}s"
}

row SECRETS RUN WALL RATE PEAK_RSS CPU 429s WINDOW APISERVER ETCD
for n in $COUNTS; do
  ns="bench-$n"
  KUBECONFIG=$admin "$kubectl" create namespace "$ns" >/dev/null
  # Four parallel creates: kubectl sends one POST per item, one at a time.
  python3 - "$ns" "$n" "$work" <<'PY'
import base64, json, sys
ns, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
items = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s-{i:05}", "namespace": ns},
          "data": {"value": base64.b64encode(f"fake-{i}-".encode() * 64).decode()}} for i in range(n)]
for part in range(4):
    with open(f"{work}/secrets-{part}.json", "w") as f:
        json.dump({"apiVersion": "v1", "kind": "List", "items": items[part::4]}, f)
PY
  creates=()
  for part in 0 1 2 3; do KUBECONFIG=$admin "$kubectl" create -f "$work/secrets-$part.json" >/dev/null & creates+=($!); done
  wait "${creates[@]}"
  rm -f "$work"/secrets-*.json
  measure pipeline sh -c "'$kubectl' get secrets -n $ns -o json | '$kubectl' annotate --overwrite -f - encryption-key-rotation-time=20260101-000000"
  rewrite=("$plugin" rewrite -n "$ns" -o json)
  # The client runs alternate, each round starting with the next one, so a drift of the shared
  # machine (or of etcd, which keeps every revision until the apiserver compacts) falls on each
  # alike; the ratios compare medians over the rounds.
  runs=("fixed 16" "fixed 64" defaults)
  stamp=0
  for round in $(seq "$ROUNDS"); do
    for k in 0 1 2; do
      run=${runs[$(( (k + round - 1) % 3 ))]}
      stamp=$((stamp + 1))
      args=(--time "$(printf '20260102-%06d' "$stamp")")
      case $run in
        "fixed 16") args+=(--fixed-concurrency --concurrency 16) ;;
        "fixed 64") args+=(--fixed-concurrency --concurrency 64) ;;
      esac
      measure "$run" "${rewrite[@]}" "${args[@]}"
    done
  done
  awk -v n="$n" '
    function median(list,   v, m, i, j, t) {
      m = split(list, v, " ")
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
      return m % 2 ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
    }
    $1 == "pipeline" { pipe = $2; next }
    { label = $1 == "fixed" ? $1 " " $2 : $1; rates[label] = rates[label] " " $NF }
    END {
      for (label in rates) {
        med[label] = median(rates[label])
        if (label != "defaults" && med[label] > best) { best = med[label]; which = label }
      }
      def = med["defaults"]
      printf "%-7s medians over the rounds: fixed 16 %d/s, fixed 64 %d/s, defaults %d/s; defaults/best (%s) %.2f, defaults/pipeline %.1fx\n", \
        n, med["fixed 16"], med["fixed 64"], def, which, def / best, def / pipe
    }
  ' "$work/rates-$n"
done
