#!/usr/bin/env bash
# Run by scripts/test.sh: examples/embedded_ca.rs opens a freshly initialised CA in-process and
# issues a certificate that openssl verifies against the root.
# Usage: scripts/examples/embedded_ca.sh TARGET_DIR   (binaries built: mayfly-ca, examples/embedded_ca)
set -euo pipefail
T=${1:-target}/debug
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$T/mayfly-ca" init --path "$W/ca" --name Example --dns localhost --provisioner ops </dev/null >/dev/null
"$T/examples/embedded_ca" "$W/ca" > "$W/out"
sed -n '/BEGIN CERTIFICATE/,$p' "$W/out" > "$W/leaf.crt"
openssl verify -CAfile "$W/ca/certs/root_ca.crt" -untrusted "$W/ca/certs/intermediate_ca.crt" "$W/leaf.crt"
head -n1 "$W/out"
