#!/usr/bin/env bash
# Times `mayfly-root crl` against `openssl ca -gencrl` on the same 1,000,000-row index.txt
# (every row revoked, a third with a reason), one run each, and prints the ratio.
#
#   bash crates/mayfly-crl/benches/compare_openssl.sh [ROWS]
#
# Builds mayfly-root in release mode (CARGO_TARGET_DIR is honoured).
set -euo pipefail
ROWS=${1:-1000000}
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT

cargo build -q --release -p mayfly-root --manifest-path "$ROOT/Cargo.toml"
BIN=$TARGET/release/mayfly-root

cd "$W"
printf '[req]\ndistinguished_name=dn\n[dn]\n[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n' > req.cnf
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout root.key \
    -subj /CN=Bench -days 30 -config req.cnf -extensions ext -out root.crt 2>/dev/null
# 16-byte serials from a counter (unique), revoked in January 2026, every third with keyCompromise.
awk -v n="$ROWS" 'BEGIN { for (i = 1; i <= n; i++) {
    r = (i % 3 == 0) ? ",keyCompromise" : "";
    printf "R\t301231235959Z\t2601%02d%02d0000Z%s\t7A%030X\tunknown\t/CN=cert %d\n", 1 + i % 28, i % 24, r, i * 7919, i } }' \
    > index.txt
echo 1000 > crlnumber
cat > ca.cnf <<CNF
[ca]
default_ca = d
[d]
database = index.txt
crlnumber = crlnumber
certificate = root.crt
private_key = root.key
default_md = sha256
default_crl_days = 7
crl_extensions = e
[e]
authorityKeyIdentifier = keyid:always
CNF

# real / CPU (user+sys) seconds of one command.
timed() { local TIMEFORMAT='%R %U %S'; { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ printf "%s %.3f", $1, $2 + $3 }'; }
read -r m_real m_cpu <<<"$(timed "$BIN" crl --index index.txt --ca root.crt --ca-key root.key --days 7 --out mayfly.crl)"
read -r o_real o_cpu <<<"$(timed openssl ca -config ca.cnf -gencrl -out openssl.crl)"
n_ours=$(openssl crl -inform DER -in mayfly.crl -noout -text | grep -c 'Serial Number')
n_theirs=$(openssl crl -in openssl.crl -noout -text | grep -c 'Serial Number')
echo "rows=$ROWS entries: mayfly=$n_ours openssl=$n_theirs"
echo "mayfly-root crl:    real ${m_real}s  cpu ${m_cpu}s"
echo "openssl ca -gencrl: real ${o_real}s  cpu ${o_cpu}s"
echo "ratio openssl/mayfly: real $(echo "scale=1; $o_real / $m_real" | bc)x  cpu $(echo "scale=1; $o_cpu / $m_cpu" | bc)x"
