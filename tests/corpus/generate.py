#!/usr/bin/env python3
"""Writes the hostile-request corpus replayed by crates/mayfly-reliability/tests/corpus.rs.

Run with the test venv: `.venv/bin/python tests/corpus/generate.py`. The output is committed;
rerunning rewrites it (CSR keys are fresh, names are stable).

File format (`*.req`): line 1 `METHOD PATH` (sent raw); then lines `@sans JSON-ARRAY`
(directive: the SANs of a token minted for `@@OTT@@`) or `Header: value` (sent); a blank
line; the body, sent as is after placeholder substitution:
  @@CSR@@               a valid CSR (PEM, JSON-escaped) for corpus.example
  @@OTT@@               a fresh valid sign token (sans from @sans, default corpus.example)
  @@TOKEN:kind@@        a hostile token built at replay time (see tokens.rs)
  @@REVOKE_OTT:serial@@ a fresh valid revoke token for `serial`
  @@JWS:kind@@          an ACME JWS for this request's URL, broken as `kind` says (acme.rs)
  @@PAD:n@@             n bytes of `A` (keeps oversized requests out of the repository)
Every request must be refused with a 4xx and a JSON {status, message} body.
"""
import base64, json, os, random
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, dsa, ed448, ed25519

OUT = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(13)
count = 0


def write(group, name, method, path, body=b"", headers=(), sans=None):
    global count
    d = os.path.join(OUT, group)
    os.makedirs(d, exist_ok=True)
    head = f"{method} {path}\n".encode()
    if sans is not None:
        head += b"@sans " + json.dumps(sans).encode() + b"\n"
    for h in headers:
        head += h.encode() + b"\n"
    if isinstance(body, str):
        body = body.encode()
    with open(os.path.join(d, name + ".req"), "wb") as f:
        f.write(head + b"\n" + body)
    count += 1


def pem_json(pem):
    return json.dumps(pem if isinstance(pem, str) else pem.decode("latin-1"))


def csr(key, cn="corpus.example", sans=("corpus.example",), algo=hashes.SHA256(), raw_sans=None):
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    names = raw_sans if raw_sans is not None else [x509.DNSName(s) for s in sans]
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(key, algo)


def openssl_csr(newkey, digest):
    import subprocess, tempfile
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "c.cnf")
        open(cfg, "w").write("[req]\ndistinguished_name=dn\n[dn]\n[legacy_sect]\nactivate=1\n")
        return subprocess.run(["openssl", "req", "-new", "-nodes", "-config", cfg, *newkey, digest,
                               "-keyout", os.path.join(d, "k"), "-subj", "/CN=corpus.example"],
                              check=True, capture_output=True, text=True).stdout


def sign_body(csr_pem, ott='"@@OTT@@"', extra=""):
    return '{"csr": %s, "ott": %s%s}' % (csr_pem, ott, extra)


P256 = ec.generate_private_key(ec.SECP256R1())
good = csr(P256)
good_der = good.public_bytes(serialization.Encoding.DER)


def der_pem(der, label="CERTIFICATE REQUEST"):
    b = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(b[i:i + 64] for i in range(0, len(b), 64))
    return f"-----BEGIN {label}-----\n{lines}\n-----END {label}-----\n"


# --- malformed JSON on every POST route -------------------------------------------------------
bad_json = {
    "empty": "", "space": " ", "null": "null", "array": "[]", "number": "42", "string": '"x"',
    "truncated": '{"csr": "abc', "trailing_comma": '{"csr": "x", "ott": "y",}',
    "single_quotes": "{'csr': 'x'}", "nan": '{"csr": NaN, "ott": "y"}',
    "bom": "\ufeff{}", "nul": '{"csr": "\u0000"}', "raw_nul": '{"csr": "a\x00b", "ott": "y"}',
    "deep_nesting": "[" * 5000 + "]" * 5000, "deep_object": '{"a":' * 3000 + "1" + "}" * 3000,
    "wrong_types": '{"csr": 1, "ott": true}', "csr_object": '{"csr": {}, "ott": "y"}',
    "dup_keys": '{"csr": "x", "csr": "y", "ott": "z"}', "utf16": '{"csr":"\\ud800","ott":"y"}',
    "invalid_utf8": b'{"csr": "\xff\xfe", "ott": "y"}', "huge_number": '{"reasonCode": 1e999999}',
    "unterminated_escape": '{"csr": "\\', "control_in_string": '{"csr": "a\x01b\x1f", "ott": "y"}',
    "oversized_2mb": '{"csr": "@@PAD:2097152@@", "ott": "y"}',
    "oversized_1mb_plus_1": '{"csr": "@@PAD:1048577@@"}',
    "many_keys": "{" + ",".join(f'"k{i}": {i}' for i in range(5000)) + "}",
    "long_key": '{"@@PAD:500000@@": 1}',
}
for route in ["sign", "revoke", "rekey", "renew"]:
    for name, body in bad_json.items():
        if route == "renew" and name not in ("empty", "truncated", "oversized_2mb"):
            continue
        write(f"json_{route}", name, "POST", f"/1.0/{route}", body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass"),
              ["Content-Type: application/json"])

# --- sign: missing/odd fields ----------------------------------------------------------------
good_pem = pem_json(good.public_bytes(serialization.Encoding.PEM))
fields = {
    "missing_ott": '{"csr": %s}' % good_pem,
    "missing_csr": '{"ott": "@@OTT@@"}',
    "empty_ott": sign_body(good_pem, '""'),
    "null_ott": sign_body(good_pem, "null"),
    "ott_number": sign_body(good_pem, "7"),
    "notafter_garbage": sign_body(good_pem, extra=', "notAfter": "tomorrow"'),
    "notafter_before_notbefore": sign_body(good_pem, extra=', "notBefore": "2h", "notAfter": "1h"'),
    "notafter_100y": sign_body(good_pem, extra=', "notAfter": "876000h"'),
    "notafter_past": sign_body(good_pem, extra=', "notAfter": "2001-01-01T00:00:00Z"'),
    "notbefore_far_future": sign_body(good_pem, extra=', "notBefore": "9999-12-31T23:59:59Z"'),
    "notafter_negative": sign_body(good_pem, extra=', "notAfter": "-5m"'),
    "notafter_overflow": sign_body(good_pem, extra=', "notAfter": "99999999999999999999h"'),
    "notafter_1s": sign_body(good_pem, extra=', "notAfter": "1ns"'),
    "notafter_number": sign_body(good_pem, extra=', "notAfter": 5'),
    "templatedata_string": sign_body(good_pem, '"@@TOKEN:expired@@"', ', "templateData": "x"'),
}
for name, body in fields.items():
    write("sign_fields", name, "POST", "/1.0/sign", body, ["Content-Type: application/json"])

# --- CSRs ------------------------------------------------------------------------------------
csrs = {}
csrs["not_pem"] = json.dumps("hello")
csrs["empty"] = '""'
csrs["pem_garbage"] = json.dumps(der_pem(os.urandom(300)))
csrs["pem_empty_body"] = json.dumps("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n")
csrs["wrong_label"] = json.dumps(der_pem(good_der, "CERTIFICATE"))
csrs["private_key_label"] = json.dumps(der_pem(good_der, "PRIVATE KEY"))
csrs["no_end"] = json.dumps(der_pem(good_der).split("-----END")[0])
csrs["bad_base64"] = json.dumps("-----BEGIN CERTIFICATE REQUEST-----\n!!!!****\n-----END CERTIFICATE REQUEST-----\n")
csrs["huge_garbage_900k"] = '"-----BEGIN CERTIFICATE REQUEST-----\\n@@PAD:900000@@\\n-----END CERTIFICATE REQUEST-----\\n"' 
csrs["two_csrs"] = json.dumps(der_pem(good_der) * 2)
csrs["der_trailing_bytes"] = json.dumps(der_pem(good_der + b"\x00\x00"))
csrs["der_length_overflow"] = json.dumps(der_pem(b"\x30\x84\xff\xff\xff\xff" + good_der[4:]))
csrs["der_indefinite_length"] = json.dumps(der_pem(b"\x30\x80" + good_der[4:] + b"\x00\x00"))
for n in [0, 1, 2, 3, 4, 10, 30, 60, 90, 120, 150, 180, 200, len(good_der) - 10, len(good_der) - 1]:
    csrs[f"truncated_{n}"] = json.dumps(der_pem(good_der[:n]))
for i, pos in enumerate(sorted(rng.sample(range(len(good_der) - 60, len(good_der)), 12))):
    b = bytearray(good_der); b[pos] ^= 0x01
    csrs[f"bitflip_sig_{i}"] = json.dumps(der_pem(bytes(b)))
for i, pos in enumerate(sorted(rng.sample(range(20, len(good_der) - 80), 12))):
    b = bytearray(good_der); b[pos] ^= 0x40
    csrs[f"bitflip_body_{i}"] = json.dumps(der_pem(bytes(b)))
# signed by another key than the one inside
other = ec.generate_private_key(ec.SECP256R1())
forged = csr(other)
fder = bytearray(forged.public_bytes(serialization.Encoding.DER))
# swap in the good CSR's signature: body of one, signature of another
sig_good = good.signature
sig_forged = forged.signature
csrs["foreign_signature"] = json.dumps(der_pem(bytes(fder).replace(sig_forged, sig_good[:len(sig_forged)]) if len(sig_good) == len(sig_forged) else bytes(fder[:-8]) + bytes(8)))
csrs["zero_signature"] = json.dumps(der_pem(bytes(fder[:-len(sig_forged)]) + bytes(len(sig_forged))))
csrs["rsa_1024"] = pem_json(csr(rsa.generate_private_key(65537, 1024)).public_bytes(serialization.Encoding.PEM))
csrs["rsa_2048_sha1"] = json.dumps(openssl_csr(["-newkey", "rsa:2048"], "-sha1"))
csrs["rsa_2048_md5"] = json.dumps(openssl_csr(["-newkey", "rsa:2048"], "-md5"))
csrs["rsa_512"] = json.dumps(openssl_csr(["-newkey", "rsa:512"], "-sha256"))
csrs["rsa_exponent_3"] = pem_json(csr(rsa.generate_private_key(3, 2048)).public_bytes(serialization.Encoding.PEM))
csrs["dsa_2048"] = pem_json(csr(dsa.generate_private_key(2048)).public_bytes(serialization.Encoding.PEM))
csrs["ed448"] = pem_json(csr(ed448.Ed448PrivateKey.generate(), algo=None).public_bytes(serialization.Encoding.PEM))
csrs["secp256k1"] = pem_json(csr(ec.generate_private_key(ec.SECP256K1())).public_bytes(serialization.Encoding.PEM))
csrs["brainpool256"] = pem_json(csr(ec.generate_private_key(ec.BrainpoolP256R1())).public_bytes(serialization.Encoding.PEM))
csrs["p256_sha1"] = json.dumps(openssl_csr(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], "-sha1"))
csrs["p192"] = pem_json(csr(ec.generate_private_key(ec.SECP192R1())).public_bytes(serialization.Encoding.PEM)) if hasattr(ec, "SECP192R1") else json.dumps("x")
for name, body in csrs.items():
    write("csr", name, "POST", "/1.0/sign", sign_body(body), ["Content-Type: application/json"])
# the same broken CSRs on /rekey (no client certificate: refused before or after parsing)
for name in ["not_pem", "pem_garbage", "truncated_30", "bitflip_sig_0", "rsa_1024", "dsa_2048"]:
    write("rekey", name, "POST", "/1.0/rekey", '{"csr": %s}' % csrs[name], ["Content-Type: application/json"])

# --- names: 10,000 SANs, control characters, IDNs, wildcards, IPs ----------------------------
k = ec.generate_private_key(ec.SECP256R1())
many = [f"h{i}.corpus.example" for i in range(10000)]
write("names", "sans_10000", "POST", "/1.0/sign",
      sign_body(pem_json(csr(k, sans=many).public_bytes(serialization.Encoding.PEM))),
      ["Content-Type: application/json"], sans=many[:3])
write("names", "sans_10000_token_too", "POST", "/1.0/sign",
      sign_body(pem_json(csr(k, sans=many).public_bytes(serialization.Encoding.PEM))),
      ["Content-Type: application/json"], sans=many)
nasty = {
    "nul": "a\x00b.example", "newline": "a\nb.example", "cr": "a\rb.example", "esc": "a\x1b[31mb.example",
    "del": "a\x7fb.example", "tab": "a\tb.example", "bell": "a\x07b.example", "backspace": "a\x08b.example",
    "space": "a b.example", "slash": "a/b.example", "at": "user@b.example", "percent": "a%00b.example",
    "leading_dot": ".corpus.example", "double_dot": "a..example", "trailing_dash": "a-.example",
    "label_64": "a" * 64 + ".example", "name_300": ("a" * 60 + ".") * 5 + "example",
    "star_mid": "a*b.example", "double_wildcard": "*.*.example",
    "bad_punycode": "xn--zz.example", "bad_punycode2": "xn--.example",
    "quote": 'a"b.example', "backslash": "a\\b.example", "semicolon": "a;b.example",
}
for name, value in nasty.items():
    kk = ec.generate_private_key(ec.SECP256R1())
    raw = [x509.DNSName("corpus.example")]
    c = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "corpus.example")]))
    # dNSName with the hostile value, encoded without validation by patching the DER.
    placeholder = "z" * len(value.encode("utf-8"))
    c = c.add_extension(x509.SubjectAlternativeName([x509.DNSName(placeholder)]), critical=False)
    # sign later via openssl-free trick: build with placeholder then replace bytes and re-sign impossible;
    # instead put the hostile value in the CN (UTF8String) and the placeholder-free SAN via token.
    c2 = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)]))
    c2 = c2.add_extension(x509.SubjectAlternativeName([x509.DNSName(value)]), critical=False) if value.isascii() else c2
    try:
        pem = c2.sign(kk, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    except Exception:
        pem = csr(kk, cn=value.encode("ascii", "replace").decode()).public_bytes(serialization.Encoding.PEM)
    write("names", f"dns_{name}", "POST", "/1.0/sign", sign_body(pem_json(pem)),
          ["Content-Type: application/json"], sans=[value])
idns = {"idn_utf8": "bücher.example", "idn_cyrillic_homograph": "аpple.example", "idn_rtl": "\u202egoogle.example",
        "idn_zero_width": "corp\u200bus.example", "idn_fullwidth_dot": "a\uff0eexample", "emoji": "😀.example"}
for name, value in idns.items():
    kk = ec.generate_private_key(ec.SECP256R1())
    c = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, value)]))
    pem = c.sign(kk, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    write("names", name, "POST", "/1.0/sign", sign_body(pem_json(pem)), ["Content-Type: application/json"], sans=[value])
# Names outside what the token allows.
for name, sans in {"not_in_token": ["evil.example"], "ip_not_in_token": ["10.0.0.1"],
                   "email": ["root@corpus.example"], "uri": ["spiffe://evil/x"]}.items():
    kk = ec.generate_private_key(ec.SECP256R1())
    raw = []
    for s in sans:
        if s[0].isdigit():
            import ipaddress; raw.append(x509.IPAddress(ipaddress.ip_address(s)))
        elif "@" in s: raw.append(x509.RFC822Name(s))
        elif "://" in s: raw.append(x509.UniformResourceIdentifier(s))
        else: raw.append(x509.DNSName(s))
    pem = csr(kk, raw_sans=raw + [x509.DNSName("corpus.example")]).public_bytes(serialization.Encoding.PEM)
    write("names", name, "POST", "/1.0/sign", sign_body(pem_json(pem)), ["Content-Type: application/json"])

# --- tokens (the JWT issue's table) ---------------------------------------------------------
kinds = ["none", "none_lower", "hs256_pubkey", "expired", "expired_61s", "future_2m", "nbf_future_2m",
         "iat_future_2m", "lifetime_1h", "wrong_aud", "aud_other_route", "aud_empty", "wrong_iss",
         "unknown_kid", "no_kid", "bad_signature", "signature_stripped", "other_key", "missing_jti",
         "missing_exp", "missing_sub", "sans_mismatch", "two_parts", "four_parts",
         "empty_parts", "not_base64", "header_not_json", "claims_not_json", "huge", "alg_rs256_on_ec",
         "alg_es384_on_p256", "crit_header", "exp_string", "jti_short", "replayed",
         "revoke_token_for_sign", "sig_der_encoded", "unicode_alg", "nested_jws"]
for kind in kinds:
    write("tokens", kind, "POST", "/1.0/sign", sign_body(good_pem, f'"@@TOKEN:{kind}@@"'),
          ["Content-Type: application/json"])
for kind in ["none", "hs256_pubkey", "expired", "wrong_aud", "bad_signature", "future_2m", "sign_token_for_revoke"]:
    write("revoke_tokens", kind, "POST", "/1.0/revoke",
          '{"serial": "1234567890", "ott": "@@TOKEN:%s@@", "passive": true}' % kind,
          ["Content-Type: application/json"])

# --- revocation -------------------------------------------------------------------------------
revs = {
    "unknown_serial": '{"serial": "98765432109876543210", "ott": "@@REVOKE_OTT:98765432109876543210@@", "passive": true}',
    "foreign_serial_hex": '{"serial": "0x5f3759df", "ott": "@@REVOKE_OTT:0x5f3759df@@", "passive": true}',
    "serial_mismatch_token": '{"serial": "111", "ott": "@@REVOKE_OTT:222@@", "passive": true}',
    "serial_empty": '{"serial": "", "ott": "@@REVOKE_OTT:@@", "passive": true}',
    "serial_garbage": '{"serial": "not-a-number", "ott": "@@REVOKE_OTT:not-a-number@@", "passive": true}',
    "serial_negative": '{"serial": "-1", "ott": "@@REVOKE_OTT:-1@@", "passive": true}',
    "serial_huge": '{"serial": "%s", "ott": "x", "passive": true}' % ("9" * 5000),
    "reason_code_99": '{"serial": "1", "ott": "@@REVOKE_OTT:1@@", "reasonCode": 99}',
    "reason_code_7": '{"serial": "1", "ott": "@@REVOKE_OTT:1@@", "reasonCode": 7}',
    "reason_code_neg": '{"serial": "1", "ott": "x", "reasonCode": -1}',
    "reason_code_300": '{"serial": "1", "ott": "x", "reasonCode": 300}',
    "reason_control": '{"serial": "1", "ott": "x", "reason": "a\\u0000\\u001b[2J"}',
    "no_auth": '{"serial": "1"}',
    "empty_ott": '{"serial": "1", "ott": ""}',
    "missing_serial": '{"ott": "x"}',
    "serial_number": '{"serial": 1, "ott": "x"}',
    "passive_string": '{"serial": "1", "ott": "x", "passive": "yes"}',
    "mtls_without_cert": '{"serial": "1", "ott": null}',
}
for name, body in revs.items():
    write("revoke", name, "POST", "/1.0/revoke", body, ["Content-Type: application/json"])
write("renew", "no_client_cert", "POST", "/1.0/renew", "")
write("renew", "no_client_cert_v0", "POST", "/renew", "{}")
write("renew", "bearer_token", "POST", "/1.0/renew", "", ["Authorization: Bearer @@OTT@@"])
write("rekey", "no_client_cert", "POST", "/1.0/rekey", '{"csr": %s}' % good_pem)

# --- paths: traversal, encodings, methods -----------------------------------------------------
paths = ["/../../etc/passwd", "/1.0/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/1.0/%2e%2e/secrets/intermediate_ca_key",
         "/..%2f..%2fetc%2fpasswd", "/root/..%2f..%2fsecrets", "/root/../../../../etc/shadow", "/secrets/root_ca_key",
         "/1.0/secrets/intermediate_ca_key", "/config/ca.json", "/db", "/%00", "/root/%00", "/provisioners/..%2f..%2fconfig",
         "/provisioners/../../../config/ca.json/encrypted-key", "/provisioners/nobody/encrypted-key", "/root/nothex",
         "/root/" + "a" * 64, "/root/" + "f" * 10000, "//etc/passwd", "/1.0//sign", "/1.1/sign", "/1.0/1.0/sign",
         "/SIGN", "/health/..", "/ocsp/%zz", "/ocsp/!!!", "/provisioners?cursor=abc", "/provisioners?limit=-1", "/provisioners?limit=99999999999999999999", "/admin", "/admin/provisioners", "/acme/../../secrets", "/.git/config",
         "/static/%c0%ae%c0%ae/etc/passwd", "/\\..\\..\\etc\\passwd"]
for i, p in enumerate(paths):
    write("paths", f"get_{i:02d}", "GET", p)
for i, (m, p) in enumerate([("DELETE", "/1.0/sign"), ("PUT", "/1.0/revoke"), ("GET", "/1.0/sign"), ("PATCH", "/roots"),
                            ("POST", "/health"), ("POST", "/roots"), ("TRACE", "/"), ("DELETE", "/provisioners"),
                            ("POST", "/1.0/provisioners"), ("GET", "/1.0/renew"), ("FOO", "/health"), ("POST", "/crl")]):
    write("methods", f"m_{i:02d}_{m.lower()}", m, p)
# headers
write("headers", "content_type_xml", "POST", "/1.0/sign", "<csr/>", ["Content-Type: application/xml"])
write("headers", "huge_header", "GET", "/1.0/roots", "", ["X-Pad: @@PAD:1048576@@"])
write("headers", "many_headers", "GET", "/1.0/nothing", "", [f"X-H{i}: v" for i in range(200)])
write("headers", "expect_continue_bad", "POST", "/1.0/sign", "{}", ["Expect: 100-banana"])
write("headers", "transfer_gzip", "POST", "/1.0/sign", "{}", ["Content-Encoding: gzip"])
# --- ACME JWS (RFC 8555 6.2): each body is built against the live CA at replay time by
# hostile_jws (crates/mayfly-reliability/src/acme.rs), with a fresh nonce unless the kind
# breaks it. The replay driver adds an ACME provisioner named `acme`.
ACME = "/acme/acme"
JOSE = ["Content-Type: application/jose+json"]
for kind in ["wrong_url", "wrong_url_host", "url_missing", "nonce_garbage", "nonce_forged",
             "nonce_missing", "nonce_replayed", "alg_none", "alg_hs256", "alg_rs256_on_ec",
             "jwk_and_kid", "neither_jwk_nor_kid", "kid_unknown_account", "kid_not_a_url",
             "jwk_private", "jwk_garbage", "other_key", "signature_stripped",
             "protected_bad_base64", "payload_bad_base64", "signature_bad_base64",
             "protected_not_json", "unprotected_header", "compact_serialization", "payload_huge"]:
    write("acme", kind, "POST", f"{ACME}/new-account", f"@@JWS:{kind}@@", JOSE)
write("acme", "content_type_json", "POST", f"{ACME}/new-account", "@@JWS:valid@@",
      ["Content-Type: application/json"])
write("acme", "no_content_type", "POST", f"{ACME}/new-account", "@@JWS:valid@@")
write("acme", "oversized_body_2mb", "POST", f"{ACME}/new-account", "@@PAD:2097152@@", JOSE)
write("acme", "empty_body", "POST", f"{ACME}/new-account", "", JOSE)
write("acme", "not_json", "POST", f"{ACME}/new-account", "hello", JOSE)
write("acme", "new_order_kid_unknown", "POST", f"{ACME}/new-order", "@@JWS:kid_unknown_account@@", JOSE)
write("acme", "unknown_resource", "POST", f"{ACME}/no-such-thing", "@@JWS:valid@@", JOSE)
write("acme", "unknown_provisioner", "POST", "/acme/nobody/new-account", "@@JWS:valid@@", JOSE)
write("acme", "get_new_account", "GET", f"{ACME}/new-account")
write("acme", "get_order_post_as_get_needed", "GET", f"{ACME}/order/1")
write("acme", "directory_post", "POST", f"{ACME}/directory", "{}", JOSE)
print(count)
