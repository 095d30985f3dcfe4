//! Interop with an independent JOSE implementation, Python `jwcrypto` (in the test venv):
//! JWEs, tokens and ACME JWSs cross in both directions.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::SystemTime;

use mayfly_jwt::{
    AcmeJws, CaAddresses, Jwk, Operation, ProvisionerKey, Provisioners, TokenClaims,
    TokenValidator, ValidationContext, decrypt_jwk, encrypt_jwk, key_authorization, mint_token,
    verify_eab,
};
use mayfly_keys::{KeyType, Password, PrivateKey, Signer};
use serde_json::{Value, json};

/// Runs `script` with the venv's Python, `stdin` as input, and returns stdout; `None` when the
/// venv is missing on a developer machine (under CI that panics in the testkit).
fn python(script: &str, stdin: &str) -> Option<String> {
    let python = mayfly_testkit::venv_tool("python")?;
    let prelude = "import sys, json, jwcrypto.jwa, jwcrypto.jwe, jwcrypto.jwk, jwcrypto.jws, jwcrypto.jwt\n\
                   jwcrypto.jwa.default_max_pbkdf2_iterations = 10_000_000\n";
    let mut child = Command::new(python)
        .args(["-c", &format!("{prelude}{script}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("UTF-8"))
}

fn password() -> Password {
    Password::from_bytes(b"correct horse battery staple".to_vec())
}

#[test]
fn jwcrypto_decrypts_what_mayfly_encrypts() {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let jwk = Jwk::from_private_key(&key).expect("jwk");
    let jwe = encrypt_jwk(&jwk, &password()).expect("encrypt");
    let script = r#"
jwe = jwcrypto.jwe.JWE()
jwe.deserialize(sys.stdin.read(), jwcrypto.jwk.JWK.from_password("correct horse battery staple"))
print(json.dumps({"header": jwe.jose_header, "plaintext": jwe.payload.decode()}))
"#;
    let Some(out) = python(script, &jwe) else {
        return;
    };
    let out: Value = serde_json::from_str(&out).expect("JSON");
    let header = &out["header"];
    assert_eq!(header["alg"], "PBES2-HS256+A128KW");
    assert_eq!(header["enc"], "A256GCM");
    assert_eq!(header["cty"], "jwk+json");
    assert_eq!(header["p2c"], 600_000);
    assert_eq!(
        header["p2s"].as_str().expect("p2s").len(),
        22,
        "16-byte salt"
    );
    let plaintext =
        Jwk::from_json(out["plaintext"].as_str().expect("text").as_bytes()).expect("JWK");
    assert_eq!(plaintext, jwk);
}

#[test]
fn mayfly_decrypts_what_jwcrypto_encrypts() {
    // Both serializations, A128GCM and A256GCM, and a p2c above josekit's 1,000,000 cap.
    let script = r#"
key = jwcrypto.jwk.JWK.generate(kty="OKP", crv="Ed25519")
out = {"jwk": json.loads(key.export_private())}
pw = jwcrypto.jwk.JWK.from_password("correct horse battery staple")
for name, enc, p2c, compact in [("compact", "A128GCM", 1000, True), ("json", "A256GCM", 4096, False), ("big", "A128GCM", 1_000_001, True)]:
    jwe = jwcrypto.jwe.JWE(key.export_private().encode(), json.dumps({"alg": "PBES2-HS256+A128KW", "enc": enc, "p2c": p2c, "cty": "jwk+json"}))
    jwe.add_recipient(pw)
    out[name] = jwe.serialize(compact=compact)
print(json.dumps(out))
"#;
    let Some(out) = python(script, "") else {
        return;
    };
    let out: Value = serde_json::from_str(&out).expect("JSON");
    let expected: Jwk = serde_json::from_value(out["jwk"].clone()).expect("jwk");
    for name in ["compact", "json", "big"] {
        let jwe = out[name].as_str().expect("jwe");
        let jwk = decrypt_jwk(jwe, &password()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(jwk, expected, "{name}");
        jwk.to_private_key().expect("key loads");
    }
}

#[test]
fn tokens_cross_in_both_directions() {
    let now = SystemTime::now();
    let aud = Operation::Sign.audience("ca.example.com:9000");
    // Mayfly mints with each key type; jwcrypto verifies and reads the claims.
    for key_type in [KeyType::EcP256, KeyType::EcP384, KeyType::Ed25519] {
        let key = PrivateKey::generate(key_type).expect("key");
        let jwk = Jwk::from_public_key(key.public_key()).expect("jwk");
        let kid = jwk.kid.clone().expect("kid");
        let token = mint_token(
            &key,
            &kid,
            &TokenClaims::new("prov", "a.example.com", &aud, now),
        )
        .expect("mint");
        let script = r#"
jwk, token = sys.stdin.read().split("\n")
t = jwcrypto.jwt.JWT(jwt=token, key=jwcrypto.jwk.JWK.from_json(jwk), algs=["ES256", "ES384", "EdDSA"])
print(json.dumps({"header": json.loads(t.header), "claims": json.loads(t.claims), "thumbprint": jwcrypto.jwk.JWK.from_json(jwk).thumbprint()}))
"#;
        let input = format!("{}\n{token}", jwk.to_json().expect("json").as_str());
        let Some(out) = python(script, &input) else {
            return;
        };
        let out: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(out["header"]["kid"], kid.as_str());
        assert_eq!(out["thumbprint"], kid.as_str(), "RFC 7638 thumbprint");
        assert_eq!(out["claims"]["aud"], aud.as_str());
        assert_eq!(out["claims"]["sans"], json!(["a.example.com"]));
    }
    // jwcrypto mints a token shaped like step's; Mayfly validates it.
    let script = r#"
key = jwcrypto.jwk.JWK.generate(kty="EC", crv="P-256")
now = int(sys.stdin.read())
claims = {"iss": "prov", "sub": "b.example.com", "aud": "https://ca.example.com/1.0/sign", "sans": ["b.example.com"],
          "nbf": now, "iat": now, "exp": now + 300, "jti": "ab" * 32, "sha": "00"}
t = jwcrypto.jwt.JWT(header={"alg": "ES256", "kid": key.thumbprint(), "typ": "JWT"}, claims=claims)
t.make_signed_token(key)
print(json.dumps({"jwk": json.loads(key.export_public()), "token": t.serialize()}))
"#;
    let unix = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("time")
        .as_secs();
    let Some(out) = python(script, &unix.to_string()) else {
        return;
    };
    let out: Value = serde_json::from_str(&out).expect("JSON");
    let jwk: Jwk = serde_json::from_value(out["jwk"].clone()).expect("jwk");
    let mut provisioners = Provisioners::new();
    let kid = jwk.thumbprint().expect("kid");
    provisioners.insert("prov", &kid, ProvisionerKey::from_jwk(&jwk).expect("key"));
    let mut ctx = ValidationContext::new(Operation::Sign, CaAddresses::new(["ca.example.com"]));
    ctx.now = now;
    let claims = TokenValidator::new(&provisioners)
        .validate(out["token"].as_str().expect("token"), &ctx)
        .expect("valid");
    assert_eq!(claims.subject, "b.example.com");
}

#[test]
fn acme_requests_and_eab_from_jwcrypto_verify() {
    let script = r#"
key = jwcrypto.jwk.JWK.generate(kty="EC", crv="P-256")
public = json.loads(key.export_public())
url = "https://ca.example.com/acme/new-account"
mac = jwcrypto.jwk.JWK(kty="oct", k=jwcrypto.common.base64url_encode(b"0123456789abcdef0123456789abcdef"))
eab = jwcrypto.jws.JWS(key.export_public().encode())
eab.add_signature(mac, protected=json.dumps({"alg": "HS256", "kid": "eab-1", "url": url}))
payload = json.dumps({"termsOfServiceAgreed": True, "externalAccountBinding": json.loads(eab.serialize())})
outer = jwcrypto.jws.JWS(payload.encode())
outer.add_signature(key, protected=json.dumps({"alg": "ES256", "nonce": "n0nce", "url": url, "jwk": public}))
get = jwcrypto.jws.JWS(b"")
get.add_signature(key, protected=json.dumps({"alg": "ES256", "nonce": "n1", "url": "https://ca.example.com/acme/acct/1", "kid": "https://ca.example.com/acme/acct/1"}))
print(json.dumps({"outer": outer.serialize(), "get": get.serialize(), "thumbprint": key.thumbprint()}))
"#;
    let prelude_import = "import jwcrypto.common\n";
    let Some(out) = python(&format!("{prelude_import}{script}"), "") else {
        return;
    };
    let out: Value = serde_json::from_str(&out).expect("JSON");
    let outer = AcmeJws::parse(out["outer"].as_str().expect("jws").as_bytes()).expect("parse");
    assert_eq!(outer.header().nonce, "n0nce");
    let (payload, account_key) = outer.verify_with_jwk().expect("verifies");
    assert_eq!(
        account_key.thumbprint().expect("thumbprint"),
        out["thumbprint"].as_str().expect("t")
    );
    assert_eq!(
        key_authorization("tok", &account_key).expect("key authz"),
        format!("tok.{}", out["thumbprint"].as_str().expect("t"))
    );
    let payload: Value = serde_json::from_slice(&payload).expect("payload");
    let eab_kid = verify_eab(
        &payload["externalAccountBinding"],
        &account_key,
        &outer.header().url,
        |kid| (kid == "eab-1").then(|| b"0123456789abcdef0123456789abcdef".to_vec()),
    )
    .expect("EAB verifies");
    assert_eq!(eab_kid, "eab-1");
    // POST-as-GET with kid: empty payload, verified with the account key.
    let get = AcmeJws::parse(out["get"].as_str().expect("jws").as_bytes()).expect("parse");
    let payload = get
        .verify(&account_key.to_public_key().expect("key"))
        .expect("verifies");
    assert!(payload.is_empty());
    let other = PrivateKey::generate(KeyType::EcP256).expect("key");
    assert!(get.verify(other.public_key()).is_err());
}
