#!/usr/bin/env bash
# Times `mayfly-root crl --pem` against `openssl ca -gencrl` (which writes PEM) on the same
# 1,000,000-row index.txt (every row revoked, a third with a reason), RUNS runs of each,
# alternated so that a busy machine slows both alike, and prints the medians and their ratio.
# CPU time (user+sys) is the fair figure on a shared machine; wall time follows it when idle.
#
#   bash crates/mayfly-crl/benches/compare_openssl.sh [ROWS] [RUNS]
#
# Builds mayfly-root in release mode (CARGO_TARGET_DIR is honoured).
set -euo pipefail
ROWS=${1:-1000000}
RUNS=${2:-3}
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
# Warm the page cache (and the binaries) so that neither side pays for the first read.
cat index.txt > /dev/null

# "real cpu" seconds (cpu = user + sys) of one command.
timed() { local TIMEFORMAT='%R %U %S'; { time "$@" >/dev/null 2>&1; } 2>&1 | awk '{ printf "%s %.3f", $1, $2 + $3 }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: > mayfly.times
: > openssl.times
for run in $(seq 1 "$RUNS"); do
    t=$(timed "$BIN" crl --index index.txt --ca root.crt --ca-key root.key --days 7 --pem --out mayfly.crl)
    echo "$t" >> mayfly.times
    echo "run $run mayfly-root crl --pem: real/cpu $t"
    t=$(timed openssl ca -config ca.cnf -gencrl -out openssl.crl)
    echo "$t" >> openssl.times
    echo "run $run openssl ca -gencrl:     real/cpu $t"
done
m_real=$(cut -d' ' -f1 mayfly.times | median); m_cpu=$(cut -d' ' -f2 mayfly.times | median)
o_real=$(cut -d' ' -f1 openssl.times | median); o_cpu=$(cut -d' ' -f2 openssl.times | median)

# Both list the same entries (serial, date, reason), in the same order.
list() { openssl crl -in "$1" -noout -text | grep -E '^ +(Serial Number|Revocation Date|[A-Z][a-z]+ Compromise)'; }
n_ours=$(list mayfly.crl | grep -c 'Serial Number')
n_theirs=$(list openssl.crl | grep -c 'Serial Number')
if cmp -s <(list mayfly.crl) <(list openssl.crl); then same=yes; else same=NO; fi
echo "rows=$ROWS runs=$RUNS entries: mayfly=$n_ours openssl=$n_theirs identical=$same"
echo "mayfly-root crl:    real ${m_real}s  cpu ${m_cpu}s  (medians)"
echo "openssl ca -gencrl: real ${o_real}s  cpu ${o_cpu}s  (medians)"
echo "ratio openssl/mayfly: real $(echo "scale=1; $o_real / $m_real" | bc)x  cpu $(echo "scale=1; $o_cpu / $m_cpu" | bc)x"
[ "$same" = yes ]
