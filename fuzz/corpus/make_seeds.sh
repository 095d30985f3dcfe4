#!/usr/bin/env bash
# Writes the small seed corpora of the fuzz targets (one folder per target). The output is
# committed; rerunning rewrites it with fresh keys. Needs openssl and python3 with
# `cryptography` (the test venv has it).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
for t in csr_parse_verify jwt_validate acme_jws template_engine index_txt ca_json ocsp_request pem_key_decrypt; do
    rm -rf "$t"; mkdir -p "$t"
done

# CSRs: P-256, P-384, Ed25519, RSA-2048 (DER) and one PEM with SANs.
csr() { openssl req -new -nodes -keyout "$T/k" -subj "/CN=fuzz.example" -outform DER -out "csr_parse_verify/$1.der" "${@:2}" 2>/dev/null; }
csr p256 -newkey ec -pkeyopt ec_paramgen_curve:P-256
csr p384 -newkey ec -pkeyopt ec_paramgen_curve:P-384
csr ed25519 -newkey ed25519
csr rsa2048 -newkey rsa:2048
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/k" -subj "/CN=fuzz.example" \
    -addext "subjectAltName=DNS:fuzz.example,IP:10.0.0.1,email:a@fuzz.example,URI:spiffe://fuzz/x" \
    -out csr_parse_verify/sans.pem 2>/dev/null

# Keys for pem_key_decrypt, password "fuzz-password", cheap PBKDF2 so the fuzzer stays fast.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out pem_key_decrypt/plain_pkcs8.pem
openssl pkcs8 -topk8 -in pem_key_decrypt/plain_pkcs8.pem -v2 aes-256-cbc -iter 10 \
    -passout pass:fuzz-password -out pem_key_decrypt/pbes2_aes256.pem
openssl pkcs8 -topk8 -in pem_key_decrypt/plain_pkcs8.pem -v2 aes-128-cbc -iter 10 -v2prf hmacWithSHA1 \
    -passout pass:fuzz-password -out pem_key_decrypt/pbes2_aes128_sha1.pem
openssl ec -in pem_key_decrypt/plain_pkcs8.pem -out pem_key_decrypt/sec1.pem 2>/dev/null
openssl ec -in pem_key_decrypt/plain_pkcs8.pem -aes256 -passout pass:fuzz-password \
    -out pem_key_decrypt/legacy_dek_aes256.pem 2>/dev/null
openssl genpkey -algorithm ED25519 -out pem_key_decrypt/ed25519.pem

# OCSP: a request for a certificate of a throw-away CA, DER and as a GET path segment.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
    -subj "/CN=Fuzz CA" -days 1 -out "$T/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/leaf.key" \
    -subj "/CN=leaf" -out "$T/leaf.csr" 2>/dev/null
openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -days 1 -out "$T/leaf.pem" 2>/dev/null
openssl ocsp -issuer "$T/ca.pem" -cert "$T/leaf.pem" -reqout ocsp_request/sha1.der -no_nonce
openssl ocsp -sha256 -issuer "$T/ca.pem" -cert "$T/leaf.pem" -reqout ocsp_request/sha256_nonce.der
base64 -w0 ocsp_request/sha1.der > ocsp_request/get_path.txt

# index.txt
printf 'V\t301231235959Z\t\t01\tunknown\t/CN=a.example\nR\t301231235959Z\t240101000000Z,keyCompromise\t0A1B\tunknown\t/CN=b\nE\t200101000000Z\t\t02\tunknown\t/O=x/CN=c\n' > index_txt/three.txt
printf '# comment\nR\t20301231235959Z\t240101000000Z\tFF\tunknown\t/CN=d\n' > index_txt/generalized.txt

# ca.json: step's example and testdata configs.
FIX=../../../shared/fixtures/step/certificates
cp "$FIX/examples/pki/config/ca.json" ca_json/step_example.json 2>/dev/null || true
cp "$FIX/ca/testdata/ca.json" ca_json/step_testdata.json 2>/dev/null || true
echo '{"root":"r.crt","crt":"i.crt","key":"i.key","address":":443","dnsNames":["ca"],"db":{"type":"sqlite","dataSource":"db"},"authority":{"provisioners":[{"type":"ACME","name":"acme"}]}}' > ca_json/minimal.json

# Templates: step's default leaf template, NUL, the data it renders.
printf '{"subject": {{ toJson .Subject }}, "sans": {{ toJson .SANs }}{{ if typeIs "*rsa.PublicKey" .Insecure.CR.PublicKey }}, "keyUsage": ["keyEncipherment", "digitalSignature"]{{ else }}, "keyUsage": ["digitalSignature"]{{ end }}, "extKeyUsage": ["serverAuth", "clientAuth"]}\0{"Subject":{"commonName":"a"},"SANs":[{"type":"dns","value":"a"}],"Insecure":{"CR":{"PublicKey":{"__type":"*ecdsa.PublicKey"}}}}' > template_engine/leaf.bin
printf '{{ range $i, $e := .list }}{{ if gt $i 0 }},{{ end }}{{ $e | upper | quote }}{{ end }}{{ .x.y | default "z" }}\0{"list":["a","b"],"x":{}}' > template_engine/range.bin

# Tokens: mode byte 1 = header \n claims, signed by the target's key; mode 0 = a raw token.
printf '\x01{"alg":"EdDSA","kid":"KID","typ":"JWT"}\n{"iss":"prov","sub":"a.example","aud":"https://ca.example.com/1.0/sign","nbf":1700000000,"iat":1700000000,"exp":1700000300,"jti":"0123456789abcdef0123","sans":["a.example"]}' > jwt_validate/claims.bin
printf '\x00eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.eyJzdWIiOiJhIn0.c2ln' > jwt_validate/raw.bin

# ACME JWS: a real ES256 flattened JWS with a jwk, and one with a kid.
"$PY" - <<'PYEOF'
import base64, json
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
k = ec.generate_private_key(ec.SECP256R1()); n = k.public_key().public_numbers()
jwk = {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
for name, key, payload in [("jwk", {"jwk": jwk}, {"termsOfServiceAgreed": True}), ("kid", {"kid": "https://ca/acme/acct/1"}, {})]:
    prot = b64(json.dumps({"alg": "ES256", "nonce": "abc", "url": "https://ca/acme/new-account", **key}).encode())
    pay = b64(json.dumps(payload).encode()) if payload else ""
    r, s = decode_dss_signature(k.sign(f"{prot}.{pay}".encode(), ec.ECDSA(hashes.SHA256())))
    sig = b64(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    open(f"acme_jws/{name}.json", "w").write(json.dumps({"protected": prot, "payload": pay, "signature": sig}))
PYEOF
echo "seeds: $(find . -type f ! -name make_seeds.sh | wc -l) files"
