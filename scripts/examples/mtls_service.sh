#!/usr/bin/env bash
# Run by scripts/test.sh: examples/mtls_service.rs against a real mayfly-ca with 2-minute
# certificates and require at least two in-process renewals with no failed request.
# Usage: scripts/examples/mtls_service.sh TARGET_DIR   (binaries built: mayfly-ca, examples/mtls_service)
set -euo pipefail
T=${1:-target}/debug
W=$(mktemp -d)
trap 'kill $(cat "$W"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$W"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
CA_PORT=$(free_port); SVC_PORT=$(free_port)
printf 'ca password\n' > "$W/pw"; printf 'provisioner password\n' > "$W/ppw"; chmod 600 "$W/pw" "$W/ppw"
"$T/mayfly-ca" init --path "$W/ca" --name Example --dns 127.0.0.1 --address "127.0.0.1:$CA_PORT" \
    --provisioner ops --password-file "$W/pw" --provisioner-password-file "$W/ppw" </dev/null >/dev/null
python3 - "$W/ca/config/ca.json" <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p))
c["authority"]["claims"] = {"minTLSCertDuration": "1m"}
json.dump(c, open(p, "w"), indent=2)
PY
"$T/mayfly-ca" serve "$W/ca/config/ca.json" --password-file "$W/pw" >"$W/ca.log" 2>&1 & echo $! >"$W/ca.pid"
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$CA_PORT) 2>/dev/null && break; sleep 0.1; done
FP=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$W/ca/config/defaults.json")
"$T/examples/mtls_service" "https://127.0.0.1:$CA_PORT" "$FP" ops "$W/ppw" localhost "127.0.0.1:$SVC_PORT" 2m \
    >"$W/svc.log" 2>&1 & echo $! >"$W/svc.pid"
for _ in $(seq 300); do grep -q listening "$W/svc.log" && break; sleep 0.1; done
end=$(( $(date +%s) + 170 )); failures=0
while [ "$(date +%s)" -lt "$end" ]; do
  if out=$(curl -sS --max-time 5 --cacert "$W/ca/certs/root_ca.crt" "https://localhost:$SVC_PORT/"); then
    echo "$out" >>"$W/answers"
  else
    failures=$((failures + 1))
  fi
  sleep 1
done
serials=$(sort -u "$W/answers" | wc -l)
echo "mtls_service: $(wc -l <"$W/answers") answers, $serials distinct serials, $failures failed requests"
[ "$failures" -eq 0 ] && [ "$serials" -ge 3 ]
