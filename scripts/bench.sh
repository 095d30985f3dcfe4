#!/usr/bin/env bash
# Mayfly benchmarks against its peers, side by side in one run.
#
#   scripts/bench.sh [sign|acme|crl|crypto|units|regress|all]     (default: all)
#   scripts/bench.sh regress --update                       (rewrite the callgrind baseline)
#
# sign:    mayfly-ca serve (HTTPS, SQLite) POST /1.0/sign vs cfssl serve (HTTPS) /api/v1/cfssl/sign,
#          wrk keep-alive at BENCH_CONNS connections, fresh server per repetition, 2 s warm-up,
#          BENCH_REPS repetitions of BENCH_DURATION s; server CPU from /proc/PID/stat, peak RSS VmHWM.
# acme:    complete ACME orders/s, Mayfly (HTTPS, SQLite, real http-01) vs Pebble (in memory,
#          always-valid), same Rust client (mayfly-loadgen acme), BENCH_WORKERS ("1 4 8") order
#          loops sharing one account, fresh server per repetition, 2 s warm-up.
# crl:     mayfly-root crl vs openssl ca -gencrl on a BENCH_CRL_ROWS-row index.txt.
# crypto:  mayfly-keys sign_verify (criterion, aws-lc backend) vs openssl speed.
# units:   criterion benches of the library hot paths against their issues' targets: leaf
#          issuance vs rcgen+ring, OTT validation vs a bare verify, durable store writes,
#          Authority::sign, a 1M-entry CRL (benches/units.py).
# regress: callgrind instruction count per in-process issuance vs benches/regress_baseline.json.
#
# Output: the table on stdout, target/bench/results.json, target/bench/*.png.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/benches
OUT=$ROOT/target/bench
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
REPS=${BENCH_REPS:-3}
DUR=${BENCH_DURATION:-8}
CONNS_LIST=${BENCH_CONNS:-"1 4 16"}
CRL_ROWS=${BENCH_CRL_ROWS:-1000000}
PY=$ROOT/.venv/bin/python
"$PY" -c 'import math' 2>/dev/null || PY=python3   # no venv, or a broken one
export PEERS_DIR=$OUT/peers
PEERS=${MAYFLY_PEERS:-$HERE/peers}   # copies of the shared peer scripts (cfssl_*)
TCK=$(getconf CLK_TCK)
mkdir -p "$OUT" "$PEERS_DIR"

log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }
need() {   # need CMD DEBIAN-PACKAGE: install from Debian when missing
  command -v "$1" >/dev/null || { log "installing $2"; apt-get install -y -q "$2" >/dev/null; }
}
record() { echo "$1" >> "$OUT/raw-$SECTION.jsonl"; }   # one JSON object per measurement
free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
build() {   # release-build these packages (skipped with BENCH_NO_BUILD=1: use what is built)
  [ "${BENCH_NO_BUILD:-0}" = 1 ] && return
  log "building $* (release)"
  cargo build -q --release $(printf -- '-p %s ' "$@") --manifest-path "$ROOT/Cargo.toml"
  # Write the build's hundreds of MB back now: writeback during a run stalls every fsync
  # (an ACME run right after a build showed a p99 of 35 ms against 9 ms a minute later).
  sync
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# ---------------------------------------------------------------------------------------- sign
mayfly_setup() {
  build mayfly-ca mayfly-loadgen
  MAYFLY_CA=$CARGO_TARGET_DIR/release/mayfly-ca
  LOADGEN=$CARGO_TARGET_DIR/release/mayfly-loadgen
  M=$OUT/mayfly; rm -rf "$M"; mkdir -p "$M"
  MPORT=$(free_port)
  printf 'bench ca password\n' > "$M/pw"; printf 'bench provisioner password\n' > "$M/ppw"
  chmod 600 "$M/pw" "$M/ppw"
  "$MAYFLY_CA" init --name Bench --dns 127.0.0.1 --provisioner bench --path "$M/pristine" \
      --address "127.0.0.1:$MPORT" --password-file "$M/pw" --provisioner-password-file "$M/ppw" \
      </dev/null >/dev/null
}

# mayfly_rep CONNS REP: one repetition on a fresh server over a fresh copy of the PKI.
mayfly_rep() {
  local c=$1 r=$2 t=$(( $1 < 2 ? $1 : 2 ))
  local total=$(( ${BENCH_TOKENS_PER_S:-6000} * DUR ))
  rm -rf "$M/ca"; cp -a "$M/pristine" "$M/ca"
  local cfg
  cfg=$(grep -l '"address"' "$M"/ca/config/ca.json)
  sed -i "s#$M/pristine#$M/ca#g" "$cfg"
  "$LOADGEN" tokens --ca-config "$cfg" --provisioner bench --provisioner-password-file "$M/ppw" \
      --audience "https://127.0.0.1:$MPORT/1.0/sign" --count $(( 3000 * 2 )) --out "$M/warm.txt"
  "$LOADGEN" tokens --ca-config "$cfg" --provisioner bench --provisioner-password-file "$M/ppw" \
      --audience "https://127.0.0.1:$MPORT/1.0/sign" --count "$total" --out "$M/run.txt"
  MAYFLY_LOG=${MAYFLY_LOG:-info} "$MAYFLY_CA" serve "$cfg" --password-file "$M/pw" > "$M/serve-$c-$r.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && break; sleep 0.1; done
  BODIES=$M/warm.txt WRK_THREADS=$t wrk -t$t -c"$c" -d2s -s "$HERE/mayfly_sign.lua" "https://127.0.0.1:$MPORT" >/dev/null 2>&1
  local u1 u2 t0 t1
  u1=$(cpu_ticks $pid); t0=$(date +%s.%N)
  BODIES=$M/run.txt WRK_THREADS=$t wrk -t$t -c"$c" -d"${DUR}s" --latency -s "$HERE/mayfly_sign.lua" \
      "https://127.0.0.1:$MPORT" > "$M/wrk-$c-$r.txt" 2>&1
  t1=$(date +%s.%N); u2=$(cpu_ticks $pid)
  local hwm; hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  kill $pid; wait $pid 2>/dev/null || true
  local f=$M/wrk-$c-$r.txt
  record "$(printf '{"bench":"sign","server":"mayfly","conns":%s,"rep":%s,"rps":%s,"p50_ms":%s,"p90_ms":%s,"p99_ms":%s,"cpu_cores":%s,"vmhwm_kb":%s,"errors":%s,"pool_exhausted":%s}' \
    "$c" "$r" "$(awk '/^RPS/{print $2}' "$f")" "$(awk '/^LAT_P50_MS/{print $2}' "$f")" \
    "$(awk '/^LAT_P90_MS/{print $2}' "$f")" "$(awk '/^LAT_P99_MS/{print $2}' "$f")" \
    "$(awk -v a="$u1" -v b="$u2" -v k="$TCK" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.3f", (b-a)/k/(e-s)}')" "$hwm" \
    "$(( $(awk '/^BAD_RESPONSES/{print $2}' "$f") + $(awk '/^NON2XX_OR_ERR/{print $2}' "$f") ))" \
    "$(awk '/^POOL_EXHAUSTED/{print $2}' "$f")")"
  log "mayfly conns=$c rep=$r $(awk '/^RPS/{print $2}' "$f") certs/s"
}

cfssl_reps() {   # CONNS: the peer script does fresh server, warm-up, REPS repetitions
  rm -f "$PEERS_DIR/cfssl_results.txt"
  bash "$PEERS/cfssl_bench.sh" "cfssl-$1" "$1" https "$REPS" "$DUR" >/dev/null
  # The peer script keeps p50/p99; p90 is read from the wrk output it leaves behind.
  "$PY" - "$PEERS_DIR/cfssl_results.txt" "$PEERS_DIR/cfssl" >> "$OUT/raw-$SECTION.jsonl" <<'PYEOF'
import json, re, sys
for line in open(sys.argv[1]):
    kv = dict(re.findall(r'(\w+)=(\S+)', line))
    label = line.split()[0]
    wrk = open(f"{sys.argv[2]}/wrk-{label}-{kv['rep']}.txt").read()
    p90 = re.search(r'^LAT_P90_MS (\S+)', wrk, re.M)
    print(json.dumps({"bench": "sign", "server": "cfssl", "conns": int(kv["conns"]), "rep": int(kv["rep"]),
        "rps": float(kv["rps"]), "p50_ms": float(kv["p50_ms"]), "p90_ms": float(p90.group(1)) if p90 else None,
        "p99_ms": float(kv["p99_ms"]),
        "cpu_cores": float(kv["cfssl_cpu_cores"]), "vmhwm_kb": int(kv["cfssl_VmHWM_kB"]),
        "errors": int(kv["bad"]) + int(kv["errs"])}))
PYEOF
}

bench_sign() {
  need wrk wrk; need bc bc; need cfssl golang-cfssl
  cp "$PEERS/cfssl_sign.lua" "$PEERS_DIR/"   # cfssl_bench.sh reads it from there
  [ -f "$PEERS_DIR/cfssl/int.pem" ] || { log "setting up cfssl CA"; bash "$PEERS/cfssl_setup.sh" >/dev/null 2>&1; }
  mayfly_setup
  for c in $CONNS_LIST; do
    for r in $(seq 1 "$REPS"); do mayfly_rep "$c" "$r"; sleep 1; done
    log "cfssl conns=$c"; cfssl_reps "$c"
  done
}

# ---------------------------------------------------------------------------------------- acme
# Both servers are driven by the same client, `mayfly-loadgen acme` (one account shared by
# WORKERS order loops, each over its own keep-alive HTTPS connection). Mayfly really validates
# http-01 against the loadgen's responder (names resolved by the loadgen's DNS responder);
# Pebble runs with PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 and never connects. Pebble
# 2.4 deadlocks now and then with several orders in flight on one account (its MemoryStore
# read-locks recursively; see docs/benchmarks.md): a repetition where its loadgen reports
# timed-out orders is counted as stalled and left out of its median.

# acme_window PID LOG SERVER WORKERS REP LOADGEN-PID: measures the server PID and the client
# (its challenge responders included) over the loadgen's window (after its warm-up,
# BENCH_DURATION s), then records one row.
acme_window() {
  local pid=$1 log=$2 server=$3 w=$4 r=$5 loadgen=$6
  sleep "$(echo "$ACME_WARMUP + 0.2" | bc)"
  local u1 u2 c1 c2 t0 t1
  u1=$(cpu_ticks "$pid"); c1=$(cpu_ticks "$loadgen"); t0=$(date +%s.%N)
  sleep "$(echo "$DUR - 0.4" | bc)"   # ends before the loadgen exits
  u2=$(cpu_ticks "$pid"); c2=$(cpu_ticks "$loadgen"); t1=$(date +%s.%N)
  wait "$loadgen" || log "$server: loadgen failed (see $log)"
  local hwm; hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  "$PY" - "$log" "$server" "$w" "$r" "$hwm" \
      "$(awk -v a="$u1" -v b="$u2" -v k="$TCK" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.3f", (b-a)/k/(e-s)}')" \
      "$(awk -v a="$c1" -v b="$c2" -v k="$TCK" -v s="$t0" -v e="$t1" 'BEGIN{printf "%.3f", (b-a)/k/(e-s)}')" \
      >> "$OUT/raw-$SECTION.jsonl" <<'PYEOF'
import json, sys
log, server, w, r, hwm, cpu, client_cpu = sys.argv[1:]
line = next((l for l in open(log) if l.startswith("RESULT ")), None)
d = json.loads(line[7:]) if line else {"orders_per_s": 0, "errors": -1, "p50_ms": None, "p99_ms": None,
                                       "err_samples": ["no RESULT line"]}
print(json.dumps({"bench": "acme", "server": server, "workers": int(w), "rep": int(r), "rps": d["orders_per_s"],
    "p50_ms": d["p50_ms"], "p99_ms": d["p99_ms"], "cpu_cores": float(cpu),
    "client_cpu_cores": float(client_cpu), "vmhwm_kb": int(hwm or 0),
    "errors": d["errors"], "err_samples": d["err_samples"][:2]}))
PYEOF
  log "$server workers=$w rep=$r $(tail -1 "$OUT/raw-$SECTION.jsonl" | "$PY" -c \
      'import json,sys; d=json.load(sys.stdin); print("%.1f orders/s, errors %s %s" % (d["rps"], d["errors"], d["err_samples"][:1]))')"
}

mayfly_acme_rep() {   # WORKERS REP: a fresh server over a fresh copy of the PKI and database
  rm -rf "$M/ca"; cp -a "$M/pristine" "$M/ca"
  local cfg; cfg=$(grep -l '"address"' "$M"/ca/config/ca.json)
  sed -i "s#$M/pristine#$M/ca#g" "$cfg"
  MAYFLY_LOG=${MAYFLY_LOG:-info} "$MAYFLY_CA" serve "$cfg" --password-file "$M/pw" > "$M/acme-serve-$1-$2.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$MPORT") 2>/dev/null && break; sleep 0.1; done
  "$LOADGEN" acme --directory "https://127.0.0.1:$MPORT/acme/acme/directory" --ca-file "$M/ca/certs/root_ca.crt" \
      --workers "$1" --warmup "$ACME_WARMUP" --duration "$DUR" --http-port "$HTTP01_PORT" --dns-port "$DNS_PORT" \
      > "$M/acme-$1-$2.txt" 2>&1 &
  acme_window "$pid" "$M/acme-$1-$2.txt" mayfly "$1" "$2" $!
}

pebble_setup() {   # Debian's pebble ships no test certificates: a throw-away TLS CA and leaf
  need pebble pebble
  P=$OUT/pebble; mkdir -p "$P"
  [ -f "$P/cert.pem" ] && return
  log "setting up a TLS certificate for Pebble"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/tlsca-key.pem" \
      -out "$P/tlsca.pem" -days 3650 -subj "/CN=bench pebble TLS CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$P/key.pem" -out "$P/tls.csr" \
      -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$P/ext.cnf"
  openssl x509 -req -in "$P/tls.csr" -CA "$P/tlsca.pem" -CAkey "$P/tlsca-key.pem" -CAcreateserial \
      -out "$P/cert.pem" -days 3650 -extfile "$P/ext.cnf" 2>/dev/null
}

pebble_acme_rep() {   # WORKERS REP: a fresh Pebble (state in memory) per repetition
  local port; port=$(free_port)
  printf '{"pebble": {"listenAddress": "127.0.0.1:%s", "managementListenAddress": "127.0.0.1:%s",
    "certificate": "%s/cert.pem", "privateKey": "%s/key.pem", "httpPort": %s, "tlsPort": %s,
    "ocspResponderURL": "", "externalAccountBindingRequired": false}}\n' \
    "$port" "$(free_port)" "$P" "$P" "$(free_port)" "$(free_port)" > "$P/pebble-config.json"
  # No authorization reuse: every order names a new name, so reuse can never apply, and
  # looking for one costs Pebble a scan of the account's authorizations per order.
  PEBBLE_VA_NOSLEEP=1 PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0 \
      pebble -config "$P/pebble-config.json" > "$P/pebble-$1-$2.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  "$LOADGEN" acme --directory "https://127.0.0.1:$port/dir" --ca-file "$P/tlsca.pem" \
      --workers "$1" --warmup "$ACME_WARMUP" --duration "$DUR" > "$P/acme-$1-$2.txt" 2>&1 &
  acme_window "$pid" "$P/acme-$1-$2.txt" pebble "$1" "$2" $!
}

bench_acme() {
  need bc bc
  ACME_WARMUP=${BENCH_ACME_WARMUP:-2}
  pebble_setup
  mayfly_setup
  HTTP01_PORT=$(free_port); DNS_PORT=$(free_port)
  # The ACME provisioner: http-01 against the loadgen's responder, names resolved by its DNS.
  "$PY" - "$(grep -l '"address"' "$M"/pristine/config/ca.json)" "$HTTP01_PORT" "$DNS_PORT" <<'PYEOF'
import json, sys
path, http_port, dns_port = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ca = json.load(open(path))
ca["authority"].setdefault("provisioners", []).append({"type": "ACME", "name": "acme", "challenges": ["http-01"],
    "validation": {"httpPort": http_port, "resolver": "127.0.0.1:" + dns_port}})
json.dump(ca, open(path, "w"), indent=2)
PYEOF
  for w in ${BENCH_WORKERS:-1 4 8}; do
    for r in $(seq 1 "$REPS"); do mayfly_acme_rep "$w" "$r"; sleep 1; done
    for r in $(seq 1 "$REPS"); do pebble_acme_rep "$w" "$r"; sleep 1; done
  done
}

# ----------------------------------------------------------------------------------------- crl
# Each repetition is the median of BENCH_CRL_RUNS alternated runs of each side, both writing PEM;
# compare the CPU figures (user+sys) on a shared machine.
bench_crl() {
  for r in $(seq 1 "${BENCH_CRL_REPS:-$REPS}"); do
    log "crl rows=$CRL_ROWS rep=$r"
    bash "$ROOT/crates/mayfly-crl/benches/compare_openssl.sh" "$CRL_ROWS" "${BENCH_CRL_RUNS:-3}" \
      > "$OUT/crl-$r.txt" 2>&1
    record "$(awk -v r="$r" -v n="$CRL_ROWS" '
      /^mayfly-root crl:/ {mr=$4; mc=$6} /^openssl ca -gencrl:/ {sr=$5; sc=$7}
      END { gsub("s","",mr); gsub("s","",mc); gsub("s","",sr); gsub("s","",sc);
        printf "{\"bench\":\"crl\",\"rep\":%s,\"rows\":%s,\"mayfly_real_s\":%s,\"mayfly_cpu_s\":%s,\"openssl_real_s\":%s,\"openssl_cpu_s\":%s}", r, n, mr, mc, sr, sc }' "$OUT/crl-$r.txt")"
  done
}

# -------------------------------------------------------------------------------------- crypto
bench_crypto() {
  log "criterion: mayfly-keys sign_verify (aws-lc backend)"
  rm -rf "$CARGO_TARGET_DIR/criterion/sign_software-aws-lc" "$CARGO_TARGET_DIR/criterion/verify_software-aws-lc"
  cargo bench -q -p mayfly-keys --features aws-lc --bench sign_verify --manifest-path "$ROOT/Cargo.toml" -- \
      --warm-up-time 1 --measurement-time 3 software-aws-lc > "$OUT/criterion.txt" 2>&1
  log "openssl speed"
  openssl speed -seconds 3 ecdsap256 ed25519 rsa2048 > "$OUT/openssl-speed.txt" 2>/dev/null
  "$PY" "$HERE/crypto.py" "$OUT/criterion.txt" "$OUT/openssl-speed.txt" >> "$OUT/raw-$SECTION.jsonl"
}

# --------------------------------------------------------------------------------------- units
# The library hot paths, each in isolation, against the target its issue names (units.py).
bench_units() {
  local args=(-- --warm-up-time 2 --measurement-time "${BENCH_UNIT_TIME:-6}")
  : > "$OUT/units.txt"
  for spec in "mayfly-template issue" "mayfly-jwt ott --features aws-lc" "mayfly-store writes" \
              "mayfly-authority sign" "mayfly-crl crl_1m"; do
    read -r pkg bench extra <<< "$spec"
    log "criterion: $pkg $bench"
    # shellcheck disable=SC2086 # $extra is a flag list
    cargo bench -q -p "$pkg" --bench "$bench" $extra --manifest-path "$ROOT/Cargo.toml" "${args[@]}" \
      >> "$OUT/units.txt" 2>&1
  done
  "$PY" "$HERE/units.py" "$OUT/units.txt" >> "$OUT/raw-$SECTION.jsonl"
}

# ------------------------------------------------------------------------------------- regress
callgrind_instructions() {   # N: total instructions of `mayfly-loadgen issue N`
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$LOADGEN" issue "$1" 2>&1 |
    awk '/Collected :/{print $NF}'
}
bench_regress() {
  need valgrind valgrind
  build mayfly-loadgen
  LOADGEN=$CARGO_TARGET_DIR/release/mayfly-loadgen
  local lo=${BENCH_REGRESS_LO:-10} hi=${BENCH_REGRESS_HI:-60}
  log "callgrind: issue $lo and issue $hi"
  local a b; a=$(callgrind_instructions "$lo"); b=$(callgrind_instructions "$hi")
  local per=$(( (b - a) / (hi - lo) ))
  "$PY" "$HERE/regress.py" "$HERE/regress_baseline.json" "$per" "${1:-}" | tee "$OUT/regress.txt"
  local status=${PIPESTATUS[0]}
  record "$(printf '{"bench":"regress","instructions_per_issuance":%s,"status":%s}' "$per" "$status")"
  return "$status"
}

# ---------------------------------------------------------------------------------------- main
# Each section rewrites only its own raw-SECTION.jsonl; the report merges all of them, so
# `scripts/bench.sh crypto` refreshes the crypto rows of the last full run.
section() { SECTION=$1; rm -f "$OUT/raw-$1.jsonl"; shift; "$@"; }
what=${1:-all}
{ echo "{\"bench\":\"machine\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"cpu\":\"$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)\","
  echo "\"cores\":$(nproc),\"mem_mb\":$(awk '/MemTotal/{print int($2/1024)}' /proc/meminfo),\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "\"kernel\":\"$(uname -r)\",\"rustc\":\"$(rustc --version)\",\"openssl\":\"$(openssl version)\",\"cfssl\":\"$(dpkg-query -W -f '${Version}' golang-cfssl 2>/dev/null)\"}"; } | tr -d '\n' > "$OUT/raw-machine.jsonl"
echo >> "$OUT/raw-machine.jsonl"
status=0
case $what in
  sign|acme|crl|crypto|units) section "$what" "bench_$what" ;;
  regress) section regress bench_regress "${2:-}" || status=$? ;;
  all) section sign bench_sign; section acme bench_acme; section crl bench_crl
       section crypto bench_crypto; section units bench_units
       section regress bench_regress || status=$? ;;
  *) echo "usage: $0 [sign|acme|crl|crypto|units|regress [--update]|all]" >&2; exit 2 ;;
esac
cat "$OUT"/raw-*.jsonl > "$OUT/raw.jsonl"
"$PY" "$HERE/report.py" "$OUT/raw.jsonl" "$OUT"
exit "$status"
