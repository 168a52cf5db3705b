#!/usr/bin/env bash
# Runs every benchmark of secretkms in one go and prints one summary table; the table is also
# written as JSON to target/bench-results.json. Nothing here asserts: the figures are reported.
#
#   hack/bench.sh                          # about 4 minutes after the release build
#   BENCH_DURATION=30s hack/bench.sh       # longer load runs
#
# What runs, all on loopback, each bounded in time:
#  1. the criterion benchmark of one policy evaluation (core/benches/evaluate.rs);
#  2. the release secretkms-webhook twice at once: (a) the full default policies with a healthy
#     state file, (b) the same binary with `policies: []` (evaluation off: nothing matches, every
#     review is allowed without instantiating anything). Against each, alternating, the load
#     generator (bench/, secretkms-loadgen) sends a 2.7 KB Secret CREATE review with a fresh uid
#     per request over TLS 1.3 HTTP/1.1 keep-alive connections: closed loop (maximum
#     throughput; BENCH_ROUNDS rounds, the median kept) and open loop at BENCH_RATE/s (p99);
#     then the peak RSS (VmHWM) of each server (the full one started from the cache that a cold
#     start filled just before; that cold start's own peak at ready is reported too);
#     then the mix: the typical review's closed loop again while a few connections send ~1.4 MB
#     Secret UPDATEs, to see that large reviews do not starve small ones;
#  3. start to ready: spawn → `GET /readyz` 200 over TLS, with a warm and a cold precompile cache.
#
# The load generator and the servers share the machine's cores; the generator's own CPU time
# and the server's CPU time per review are reported next to the throughput.
#
# Environment: BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_CONNECTIONS (16), BENCH_RATE
# (5000), BENCH_ROUNDS (3), BENCH_STARTS (5), BENCH_LOG (the webhooks' log level, info),
# BENCH_SKIP_CRITERION=1, BENCH_PORT_BASE (18440), BENCH_MIX_CONNECTIONS (2: the connections
# sending large UPDATEs in the mix run).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
ensure_rust

DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-2s}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
RATE=${BENCH_RATE:-5000}
ROUNDS=${BENCH_ROUNDS:-3}
MIX_CONNECTIONS=${BENCH_MIX_CONNECTIONS:-2}
STARTS=${BENCH_STARTS:-5}
LOG=${BENCH_LOG:-info}
PORT=${BENCH_PORT_BASE:-18440}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$REPO/target/bench}
# The table goes next to the repository's other build output even when CARGO_TARGET_DIR lies
# elsewhere (the directory may not exist yet then); BENCH_RESULTS overrides.
RESULTS=${BENCH_RESULTS:-$REPO/target/bench-results.json}
mkdir -p "$(dirname "$RESULTS")"
command -v openssl >/dev/null || die "openssl is needed to make the test certificates (apt-get install openssl)"
command -v python3 >/dev/null || die "python3 is needed to assemble the summary"

cd "$REPO"
say "building release binaries (secretkms-webhook, secretkms-loadgen) and the criterion benchmark"
cargo build --release --locked -p secretkms-webhook -p secretkms-bench
[[ ${BENCH_SKIP_CRITERION:-} == 1 ]] || cargo bench --locked -p secretkms-core --bench evaluate --no-run
WEBHOOK=$CARGO_TARGET_DIR/release/secretkms-webhook
LOADGEN=$CARGO_TARGET_DIR/release/secretkms-loadgen

WORK=$(mktemp -d "${TMPDIR:-/tmp}/secretkms-bench.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# 1. criterion, first, while nothing else of ours runs.
if [[ ${BENCH_SKIP_CRITERION:-} != 1 ]]; then
  say "criterion: one evaluation with a fresh instance (cargo bench -p secretkms-core --bench evaluate)"
  cargo bench --locked -p secretkms-core --bench evaluate 2>&1 | tee "$WORK/criterion.txt"
fi

# Certificates: a CA and a P-256 serving certificate for localhost / 127.0.0.1.
say "certificates"
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/ca.key" 2>/dev/null
openssl req -x509 -new -key "$WORK/ca.key" -subj "/CN=secretkms-bench-ca" -days 1 \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
  -out "$WORK/ca.pem" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$WORK/tls.key" 2>/dev/null
openssl req -new -key "$WORK/tls.key" -subj "/CN=localhost" -out "$WORK/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$WORK/ext"
openssl x509 -req -in "$WORK/tls.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial \
  -days 1 -extfile "$WORK/ext" -out "$WORK/tls.pem" 2>/dev/null

# A healthy state (the webhook tests' fixture, every source just observed) and "evaluation off".
python3 - "$REPO/webhook/tests/data/healthy-state.json" "$WORK/state.json" <<'EOF'
import json, sys
state = json.load(open(sys.argv[1]))
for s in state["sources"]:
    s["ageSeconds"] = 0
json.dump(state, open(sys.argv[2], "w"))
EOF
printf 'policies: []\n' >"$WORK/policies-off.yaml"

common=(--tls-cert-file "$WORK/tls.pem" --tls-key-file "$WORK/tls.key" --state-file "$WORK/state.json"
        --allow-weakening state-file --apiserver-probe=false --metrics-listen off --log "$LOG")
FULL_PORT=$PORT
OFF_PORT=$((PORT + 1))
START_PORT=$((PORT + 2))

start_server() { # name port extra-args...; sets SERVER_PID
  local name=$1 port=$2
  shift 2
  "$WEBHOOK" --listen "127.0.0.1:$port" "${common[@]}" --policy-cache-dir "$WORK/cache-$name" "$@" \
    >"$WORK/$name.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
}

# The full server's first start compiles both policies into its precompile cache. Its peak RSS
# at ready is that compilation's and is reported on its own row; the server measured under load
# then starts from the warm cache, as every start after a pod's first does, so its VmHWM is the
# serving peak.
say "cold start of the full webhook (compiles both policies into its cache)"
start_server full "$FULL_PORT"
"$LOADGEN" ready --url "https://127.0.0.1:$FULL_PORT/readyz" --ca "$WORK/ca.pem" --timeout 30s \
  || { tail -n 20 "$WORK/full.log" >&2; die "the full webhook did not become ready"; }
grep -E '^(VmHWM|VmRSS)' "/proc/$SERVER_PID/status" | tr -s ' \t' ' ' >"$WORK/rss-cold.txt"
echo "    at ready: $(tr '\n' ' ' <"$WORK/rss-cold.txt")"
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
PIDS=()

say "starting the webhook twice: full policies on :$FULL_PORT (warm cache), evaluation off on :$OFF_PORT"
start_server full "$FULL_PORT"
FULL_PID=$SERVER_PID
start_server off "$OFF_PORT" --policy-config "$WORK/policies-off.yaml" \
  --allow-weakening state-file,unguarded-secret-writes
OFF_PID=$SERVER_PID
for name in full off; do
  port_var=${name^^}_PORT
  "$LOADGEN" ready --url "https://127.0.0.1:${!port_var}/readyz" --ca "$WORK/ca.pem" --timeout 30s \
    || { tail -n 20 "$WORK/$name.log" >&2; die "the $name webhook did not become ready"; }
done

load() { # name port pid out extra-args...
  local name=$1 port=$2 pid=$3 out=$4
  shift 4
  "$LOADGEN" load --url "https://127.0.0.1:$port/validate?timeout=10s" --ca "$WORK/ca.pem" \
    --connections "${LOAD_CONNECTIONS:-$CONNECTIONS}" --warmup "$WARMUP" --duration "$DURATION" --server-pid "$pid" \
    --label "$name" "$@" >"$out"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); l=r["latency"] or {}; print("    %-5s %-6s %8.0f reviews/s  p50 %6.3f ms  p99 %6.3f ms  server %5.1f µs CPU/review  loadgen %.1f s CPU  allowed %d/%d  non-200 %d  errors %d" % (r["label"], r["mode"], r["throughput_rps"], l.get("p50_ms", 0), l.get("p99_ms", 0), r.get("server_cpu_us_per_review") or 0, r["loadgen_cpu_s"] or 0, r["allowed"], r["requests"], r["non_200"], r["errors"]))' "$out"
}

for round in $(seq 1 "$ROUNDS"); do
  say "closed loop, round $round/$ROUNDS: $CONNECTIONS connections, $WARMUP warm-up + $DURATION"
  load full "$FULL_PORT" "$FULL_PID" "$WORK/closed-full-$round.json"
  load off "$OFF_PORT" "$OFF_PID" "$WORK/closed-off-$round.json"
done
say "open loop at $RATE reviews/s: $CONNECTIONS connections, $WARMUP warm-up + $DURATION"
load full "$FULL_PORT" "$FULL_PID" "$WORK/open-full.json" --rate "$RATE"
load off "$OFF_PORT" "$OFF_PID" "$WORK/open-off.json" --rate "$RATE"

# 2b. The mix: large reviews must not starve small ones. While MIX_CONNECTIONS connections send a
# Secret UPDATE whose object and oldObject carry 512 KiB of data each (a ~1.4 MB review) in a
# closed loop, the typical review's closed loop runs again on the usual connections; both against
# the full server, set against the typical review alone in this run's closed-loop rounds.
python3 - "$REPO/bench/data/secret-create-review.json" "$WORK/large-update.json" <<'EOF'
import base64, copy, json, sys
review = json.load(open(sys.argv[1]))
request = review["request"]
request["operation"] = "UPDATE"
obj = request["object"]
obj["data"] = {f"blob-{i}": base64.b64encode(bytes([65 + i]) * (64 << 10)).decode() for i in range(8)}
old = copy.deepcopy(obj)
old["data"] = {k: base64.b64encode(b"o" * (64 << 10)).decode() for k in obj["data"]}
request["oldObject"] = old
json.dump(review, open(sys.argv[2], "w"), separators=(",", ":"))
EOF
say "mix: the typical review on $CONNECTIONS connections while $MIX_CONNECTIONS send large UPDATEs, $WARMUP warm-up + $DURATION"
LOAD_CONNECTIONS=$MIX_CONNECTIONS load large "$FULL_PORT" "$FULL_PID" "$WORK/mix-large.json" \
  --review "$WORK/large-update.json" &
large_load=$!
load typical "$FULL_PORT" "$FULL_PID" "$WORK/mix-typical.json"
wait "$large_load"

for name in full off; do
  pid_var=${name^^}_PID
  grep -E '^(VmHWM|VmRSS)' "/proc/${!pid_var}/status" | tr -s ' \t' ' ' >"$WORK/rss-$name.txt"
  echo "    $name: $(tr '\n' ' ' <"$WORK/rss-$name.txt")"
done
kill "$FULL_PID" "$OFF_PID"
wait "$FULL_PID" "$OFF_PID" 2>/dev/null || true
PIDS=()

say "start to ready ($STARTS starts each): warm precompile cache, then cold"
startup() { # label cache-flag...
  local label=$1
  shift
  "$LOADGEN" startup --url "https://127.0.0.1:$START_PORT/readyz" --ca "$WORK/ca.pem" --runs "$STARTS" \
    --label "$label" "$@" -- "$WEBHOOK" --listen "127.0.0.1:$START_PORT" "${common[@]}" \
    --policy-cache-dir "$WORK/cache-$label" >"$WORK/startup-$label.json"
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("    %s: median %s ms of %s" % (sys.argv[2], r["median_ms"], r["ready_ms"]))' \
    "$WORK/startup-$label.json" "$label"
}
startup warm --prime
startup cold --clear "$WORK/cache-cold"

python3 - "$WORK" "$RESULTS" "$RATE" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$LOG" <<'EOF'
import json, os, re, statistics, sys, time
work, out, rate, conns, duration, rounds, log = sys.argv[1:]
rounds = int(rounds)
load = lambda p: json.load(open(os.path.join(work, p)))

def closed(name):
    runs = [load(f"closed-{name}-{i}.json") for i in range(1, rounds + 1)]
    runs.sort(key=lambda r: r["throughput_rps"])
    return runs[len(runs) // 2], [r["throughput_rps"] for r in runs]

def rss_mb(name):
    kv = dict(line.split(":", 1) for line in open(os.path.join(work, f"rss-{name}.txt")))
    return {k: round(int(v.split()[0]) / 1024, 1) for k, v in kv.items()}

full, full_all = closed("full")
off, off_all = closed("off")
open_full, open_off = load("open-full.json"), load("open-off.json")
rss = {n: rss_mb(n) for n in ("full", "off", "cold")}
warm, cold = load("startup-warm.json"), load("startup-cold.json")
mix_typical, mix_large = load("mix-typical.json"), load("mix-large.json")

crit = {}
path = os.path.join(work, "criterion.txt")
if os.path.exists(path):
    text = open(path).read()
    for label, key in [("PolicySet::evaluate, fresh instance", "fresh_instance"),
                       ("reused instance, call only", "reused_instance"),
                       ("instantiate only (fresh Store, no call)", "instantiate_only")]:
        m = re.search(re.escape(label) + r"\s+p50\s+([\d.]+) µs\s+p99\s+([\d.]+) µs\s+mean\s+([\d.]+) µs", text)
        if m:
            crit[key] = {"p50_us": float(m[1]), "p99_us": float(m[2]), "mean_us": float(m[3])}
    for key in ("instantiate_only", "reused_instance", "fresh_instance/secret-write-guard"):
        m = re.search(r"evaluate/" + re.escape(key) + r"\s+time:\s+\[([\d.]+) (\S+) ([\d.]+) (\S+) ([\d.]+) (\S+)\]", text)
        if m:
            unit = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3}[m[4]]
            crit.setdefault(key.split("/")[0], {})["criterion_median_us"] = round(float(m[3]) * unit, 2)

results = {
    "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release,
                "note": "load generator (1 thread) and the webhook share these cores"},
    "settings": {"connections": int(conns), "duration": duration, "closed_loop_rounds": rounds,
                 "open_loop_rate": float(rate), "webhook_log_level": log,
                 "review_bytes": full["review_bytes"]},
    "closed_loop": {"full": full, "off": off, "full_rounds_rps": full_all, "off_rounds_rps": off_all,
                    "ratio_full_over_off": round(full["throughput_rps"] / off["throughput_rps"], 3)},
    "open_loop": {"full": open_full, "off": open_off},
    "mix": {"typical": mix_typical, "large_update": mix_large,
            "typical_rps_with_large_over_alone": round(mix_typical["throughput_rps"] / full["throughput_rps"], 3)},
    "rss_mb": rss,
    "start_to_ready_ms": {"warm_cache": warm, "cold_cache": cold},
    "criterion_evaluate": crit,
}
json.dump(results, open(out, "w"), indent=2)

def row(metric, f, o, ratio, goal, ok):
    print(f"| {metric:<38} | {f:>12} | {o:>12} | {ratio:>6} | {goal:<16} | {ok:<4} |")
yes = lambda b: "yes" if b else "NO"
print()
print(f"secretkms benchmarks ({results['measured_at']}, {os.cpu_count()} CPUs shared by the load generator and the webhook)")
row("metric", "full policies", "eval. off", "ratio", "goal", "met")
print("|" + "|".join("-" * w for w in (40, 14, 14, 8, 18, 6)) + "|")
ratio = results["closed_loop"]["ratio_full_over_off"]
row(f"closed loop, {conns} conns (reviews/s)", f"{full['throughput_rps']:.0f}", f"{off['throughput_rps']:.0f}",
    f"{ratio:.2f}", ">= 10000, >= 0.75", yes(full["throughput_rps"] >= 10000 and ratio >= 0.75))
row("  p50 / p99 at max (ms)", f"{full['latency']['p50_ms']:.2f} / {full['latency']['p99_ms']:.2f}",
    f"{off['latency']['p50_ms']:.2f} / {off['latency']['p99_ms']:.2f}", "", "", "")
row("  server CPU per review (µs)", f"{full['server_cpu_us_per_review']:.0f}", f"{off['server_cpu_us_per_review']:.0f}",
    f"{full['server_cpu_us_per_review'] / off['server_cpu_us_per_review']:.2f}", "<= 135 µs",
    yes(full["server_cpu_us_per_review"] <= 135))
row("  load generator CPU (cores)", f"{full['loadgen_cpu_s'] / full['duration_s']:.2f}",
    f"{off['loadgen_cpu_s'] / off['duration_s']:.2f}", "", "", "")
lf, lo = open_full["latency"], open_off["latency"]
row(f"open loop {float(rate):.0f}/s: p50 (ms)", f"{lf['p50_ms']:.3f}", f"{lo['p50_ms']:.3f}", "", "", "")
row(f"open loop {float(rate):.0f}/s: p99 (ms)", f"{lf['p99_ms']:.3f}", f"{lo['p99_ms']:.3f}", "",
    "<= 2 ms", yes(lf["p99_ms"] <= 2.0))
row(f"open loop {float(rate):.0f}/s: max (ms)", f"{lf['max_ms']:.2f}", f"{lo['max_ms']:.2f}", "", "", "")
mt, ml = mix_typical, mix_large
row("mix: typical beside large UPDATEs (r/s)", f"{mt['throughput_rps']:.0f}", f"{full['throughput_rps']:.0f} alone",
    f"{mt['throughput_rps'] / full['throughput_rps']:.2f}", "not starved", "")
row("  typical p50 / p99, mix vs alone (ms)", f"{mt['latency']['p50_ms']:.2f} / {mt['latency']['p99_ms']:.2f}",
    f"{full['latency']['p50_ms']:.2f} / {full['latency']['p99_ms']:.2f}", "", "", "")
row(f"  {ml['review_bytes'] / 1e6:.1f} MB UPDATEs: r/s; p50 / p99 (ms)", f"{ml['throughput_rps']:.0f}",
    f"{ml['latency']['p50_ms']:.1f} / {ml['latency']['p99_ms']:.1f}", "", "", "")
row("peak RSS under load, VmHWM (MB)", f"{rss['full']['VmHWM']:.1f}", f"{rss['off']['VmHWM']:.1f}", "",
    "<= 50 MB", yes(rss["full"]["VmHWM"] <= 50))
row("  peak RSS of a cold start at ready (MB)", f"{rss['cold']['VmHWM']:.1f}", "", "", "<= 50 MB",
    yes(rss["cold"]["VmHWM"] <= 50))
row("start to ready, warm cache (ms, median)", f"{warm['median_ms']:.0f}", "", "", "<= 100 ms", yes(warm["median_ms"] <= 100))
row("start to ready, cold cache (ms, median)", f"{cold['median_ms']:.0f}", "", "", "<= 500 ms", yes(cold["median_ms"] <= 500))
if "fresh_instance" in crit:
    c = crit["fresh_instance"]
    row("one evaluation, fresh instance (µs)", f"p50 {c['p50_us']:.1f}", f"p99 {c['p99_us']:.1f}", "",
        "p50 <= 30, p99 <= 100", yes(c["p50_us"] <= 30 and c["p99_us"] <= 100))
bad = sum(r["non_200"] + r["errors"] + r["bad_answers"] for r in (full, off, open_full, open_off, mix_typical, mix_large))
denied = sum(r["ok"] - r["allowed"] for r in (full, off, open_full, open_off, mix_typical, mix_large))
print(f"\nnon-200, errors and wrong answers in the measured runs: {bad}; denials (expected 0, the state is healthy): {denied}")
print(f"written to {out}")
EOF
