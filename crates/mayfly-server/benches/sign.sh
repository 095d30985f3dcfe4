#!/bin/bash
# End-to-end signing benchmark (issue 8): Mayfly `serve` (SQLite store) against cfssl `serve`,
# same machine, same run. Usage: crates/mayfly-server/benches/sign.sh [CONNS=16] [DUR=10] [RATE_POOL=6000]
#   POST /1.0/sign over HTTPS keep-alive with wrk; every Mayfly request carries a fresh one-time
#   token (verified, replay-recorded) and the certificate is durably recorded before the reply.
#   Prints certs/s, p50/p99, server CPU per certificate and peak RSS for both, and the ratios.
# Needs: wrk, bc, golang-cfssl (apt), a release build: cargo build --release -p mayfly-ca
#        and cargo build --release -p mayfly-server --example bench_pool.
set -euo pipefail
C=${1:-16}; DUR=${2:-10}; POOL_PER_S=${3:-6000}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
BIN=$TARGET/release/mayfly-ca; POOLGEN=$TARGET/release/examples/bench_pool
PEERS=${PEERS:-$ROOT/../shared/peers}
W=$(mktemp -d "${BENCH_TMP:-/tmp}/mayfly-bench-XXXX"); trap 'rm -rf "$W"' EXIT
TCK=$(getconf CLK_TCK); T=2
PORT=19443

measure() { # LABEL PID URL LUA -> prints one result line
  local label=$1 pid=$2 url=$3 lua=$4
  read -r u1 s1 < <(awk '{print $14, $15}' /proc/$pid/stat)
  local t0 t1 u2 s2; t0=$(date +%s.%N)
  THREADS=$T wrk -t$T -c$C -d${DUR}s --latency -s "$lua" "$url" > "$W/$label.txt" 2>&1
  t1=$(date +%s.%N)
  read -r u2 s2 < <(awk '{print $14, $15}' /proc/$pid/stat)
  local hwm rps p50 p99 bad cpu
  hwm=$(awk '/VmHWM/{print $2}' /proc/$pid/status)
  rps=$(awk '/^RPS/{print $2}' "$W/$label.txt"); p50=$(awk '/^LAT_P50_MS/{print $2}' "$W/$label.txt")
  p99=$(awk '/^LAT_P99_MS/{print $2}' "$W/$label.txt"); bad=$(awk '/^BAD_RESPONSES/{print $2}' "$W/$label.txt")
  cpu=$(echo "scale=4; (($u2+$s2)-($u1+$s1))/$TCK/($t1-$t0)" | bc)
  local ms_per_cert; ms_per_cert=$(echo "scale=3; $cpu*1000/$rps" | bc)
  echo "$label certs_per_s=$rps p50_ms=$p50 p99_ms=$p99 server_cpu_ms_per_cert=$ms_per_cert peak_rss_kB=$hwm bad=$bad"
}

# --- Mayfly --------------------------------------------------------------------------------
"$BIN" init --path "$W/ca" --name Bench --dns 127.0.0.1 --dns localhost --address 127.0.0.1:$PORT \
  --provisioner bench > "$W/init.log" 2>&1
"$BIN" serve "$W/ca/config/ca.json" --password-file "$W/ca/secrets/password.txt" --log-format json \
  2> "$W/serve.log" &
MPID=$!
for _ in $(seq 1 100); do grep -q 'serving the API' "$W/serve.log" && break; sleep 0.1; done
N=$(( POOL_PER_S * (DUR + 1) ))
"$POOLGEN" "$W/ca/config/ca.json" "$W/ca/secrets/provisioner_password.txt" 127.0.0.1:$PORT $N "$W/pool.jsonl"
MAYFLY=$(POOL="$W/pool.jsonl" measure mayfly $MPID https://127.0.0.1:$PORT "$ROOT/crates/mayfly-server/benches/sign.lua")
kill -TERM $MPID; wait $MPID || true
echo "$MAYFLY"

# --- cfssl ----------------------------------------------------------------------------------
export PEERS_DIR="$W/peers"
bash "$PEERS/cfssl_setup.sh" > "$W/cfssl_setup.log" 2>&1
( cd "$PEERS_DIR/cfssl" && exec cfssl serve -address 127.0.0.1 -port 8888 -ca int.pem -ca-key int-key.pem \
    -config serve-config.json -loglevel 2 -tls-cert srv.pem -tls-key srv-key.pem > "$W/cfssl.log" 2>&1 ) &
CPID=$!
sleep 1.5
CFSSL=$(PEERS_DIR="$W/peers" measure cfssl $CPID https://127.0.0.1:8888 "$PEERS/cfssl_sign.lua")
kill $CPID; wait $CPID || true
echo "$CFSSL"

get() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1==k{print $2}'; }
echo "ratio certs/s mayfly/cfssl = $(echo "scale=2; $(get "$MAYFLY" certs_per_s)/$(get "$CFSSL" certs_per_s)" | bc)" \
     " peak RSS mayfly/cfssl = $(echo "scale=2; $(get "$MAYFLY" peak_rss_kB)/$(get "$CFSSL" peak_rss_kB)" | bc)"
