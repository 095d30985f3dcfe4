#!/usr/bin/env bash
# The one test command: installs what the suites need when it is missing, starts the database
# servers, then runs formatting, clippy and every test in the workspace (interop included).
#
#   scripts/test.sh           the whole suite
#   scripts/test.sh --long    also the long variants: 20 crash rounds per backend, the
#                             10-minute soak, a 30 s run of every fuzz target
#
# Exits non-zero on any failure. CI runs exactly this (see .ci/run).
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
LONG=0
[ "${1:-}" = "--long" ] && LONG=1
export MAYFLY_TEST_LONG=$LONG

log() { printf '\n==> %s\n' "$*"; }

# --- System packages -------------------------------------------------------------------------
# Debian packages the interop tests drive. Each later feature adds its tools here.
APT_PACKAGES=(
    openssl libssl-dev pkg-config      # openssl CLI for interop; headers for crates that link it
    softhsm2 opensc                    # PKCS#11 token + pkcs11-tool
    gnutls-bin                         # certtool: a second opinion on chains and CRLs
    strace                             # proves the offline root tool opens no socket
    curl                               # drives the API and the mTLS service example
    sqlite3                            # reads the store back in the crash-safety suite
    systemd                            # systemd-analyze verify on dist/systemd/mayfly-ca.service
    lego uacme dehydrated acme-tiny    # real ACME clients for the ACME interop tests
    python3-venv                       # the venv for pkilint / cryptography / jwcrypto
    mariadb-client postgresql-client   # database clients used to check and reset test databases
    nginx libnginx-mod-stream          # L4 load balancer with proxy_protocol in the HA suite
)
missing=()
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Python venv for outside checkers ----------------------------------------------------------
VENV="$ROOT/.venv"
PY_PACKAGES=(pkilint cryptography jwcrypto 'certbot>=5,<6' matplotlib)
if [ ! -x "$VENV/bin/python" ]; then
    log "creating the test venv in $VENV"
    /usr/bin/python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import pkilint, cryptography, jwcrypto, certbot, matplotlib' 2>/dev/null; then
    log "installing ${PY_PACKAGES[*]} into the venv"
    "$VENV/bin/pip" install -q "${PY_PACKAGES[@]}"
fi
export MAYFLY_TEST_VENV="$VENV"

# --- Database servers ----------------------------------------------------------------------------
start_postgres() {
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
        if ! ls /etc/postgresql >/dev/null 2>&1; then
            log "installing PostgreSQL"
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
        fi
        log "starting PostgreSQL"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
        for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
    fi
    if ! psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' >/dev/null 2>&1; then
        # A fresh Debian cluster asks for a password over TCP; the tests log in as postgres
        # without one, from this machine only.
        log "letting local test clients into PostgreSQL (trust on 127.0.0.1)"
        hba="$(ls /etc/postgresql/*/main/pg_hba.conf | head -n1)"
        $SUDO sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main reload
    fi
    psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1 \
        || psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
}
start_mariadb() {
    if ! mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1; then
        if [ ! -x /usr/sbin/mariadbd ]; then
            log "installing MariaDB"
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mariadb-server >/dev/null
        fi
        log "starting MariaDB"
        $SUDO install -d -o mysql -g mysql /run/mysqld
        $SUDO start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
        for _ in $(seq 30); do mysqladmin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && break; sleep 1; done
    fi
    if ! mysql -h 127.0.0.1 -u root -e 'select 1' >/dev/null 2>&1; then
        # A fresh Debian MariaDB lets root in through its socket only; the tests log in over
        # TCP as root without a password, from this machine only.
        log "letting local test clients into MariaDB (root@127.0.0.1)"
        $SUDO mysql -u root -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
            GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
    fi
    mysql -h 127.0.0.1 -u root -e 'create database if not exists test' >/dev/null
}
start_postgres
start_mariadb

# --- Rust ----------------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The soak is a `test = false` target (run by --long only), which --all-targets skips.
cargo clippy --locked -p mayfly-reliability --test soak -- -D warnings

log "cargo test"
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --workspace --locked --no-fail-fast
    cargo test --workspace --locked --doc
else
    cargo test --workspace --locked --no-fail-fast
fi

# The workspace turns on mayfly-keys' aws-lc backend for every member; a library user who adds
# mayfly-keys alone gets the pure-Rust (RustCrypto) backend, so build and test that one too.
log "mayfly-keys alone, RustCrypto backend"
cargo clippy --locked -p mayfly-keys --all-targets -- -D warnings
if command -v cargo-nextest >/dev/null 2>&1; then
    cargo nextest run --locked -p mayfly-keys --no-fail-fast
else
    cargo test --locked -p mayfly-keys --no-fail-fast
fi

if [ "$LONG" = 1 ]; then
    # Not part of the run above (`test = false`): 10 minutes at 80 % of the measured rate.
    log "soak (about 11 minutes)"
    if command -v cargo-nextest >/dev/null 2>&1; then
        cargo nextest run --locked -p mayfly-reliability --test soak --no-capture
    else
        cargo test --locked -p mayfly-reliability --test soak -- --nocapture
    fi
    log "fuzz smoke runs (30 s per target)"
    bash scripts/fuzz.sh 30
fi

log "examples"
TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --locked -q -p mayfly-ca -p mayfly-authority -p mayfly-client --bins --examples
bash scripts/examples/embedded_ca.sh "$TARGET"
bash scripts/examples/mtls_service.sh "$TARGET"

log "all tests passed"
