//! OTT validation (ES256, no replay store) and ACME JWS verification, against a bare P-256
//! verify of the token's own signing input: through mayfly-keys (whose backend is aws-lc-rs
//! with `--features aws-lc`, RustCrypto otherwise) and straight into RustCrypto's p256.
//!
//! `cargo bench -p mayfly-jwt --features aws-lc --bench ott` measures the fastest backend.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use mayfly_jwt::{
    AcmeJws, CaAddresses, Jwk, Operation, ProvisionerKey, Provisioners, TokenClaims,
    TokenValidator, ValidationContext, mint_token,
};
use mayfly_keys::{KeyType, PrivateKey, Signer, Verifier};

fn bench(c: &mut Criterion) {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let jwk = Jwk::from_public_key(key.public_key()).expect("jwk");
    let kid = jwk.kid.clone().expect("kid");
    let mut provisioners = Provisioners::new();
    provisioners.insert("prov", &kid, ProvisionerKey::from_jwk(&jwk).expect("key"));
    let audience = Operation::Sign.audience("ca.example.com");
    let claims = TokenClaims::new("prov", "host.example.com", &audience, SystemTime::now());
    let token = mint_token(&key, &kid, &claims).expect("mint");
    let ctx = ValidationContext::new(Operation::Sign, CaAddresses::new(["ca.example.com"]));
    let validator = TokenValidator::new(&provisioners);

    // The bare verify: the token's own signing input and signature, straight into p256.
    let (input, signature) = token.rsplit_once('.').expect("token");
    let signature = base64_url(signature);
    let mayfly_keys::PublicKey::EcP256(verifying_key) = key.public_key().clone() else {
        unreachable!("a P-256 key")
    };
    let p256_sig = p256::ecdsa::Signature::from_slice(&signature).expect("signature");

    let der_sig = mayfly_keys::jws_signature_to_x509(key.algorithm(), &signature).expect("DER");
    let backend = if cfg!(feature = "aws-lc") {
        "aws-lc"
    } else {
        "rustcrypto"
    };
    let mut group = c.benchmark_group("ott");
    group.bench_function(format!("bare_p256_verify_mayfly_keys_{backend}"), |b| {
        b.iter(|| {
            key.public_key()
                .verify(
                    key.algorithm(),
                    black_box(input.as_bytes()),
                    black_box(&der_sig),
                )
                .expect("valid")
        })
    });
    group.bench_function("bare_p256_verify_rustcrypto_p256", |b| {
        b.iter(|| {
            use p256::ecdsa::signature::Verifier as _;
            verifying_key.verify(black_box(input.as_bytes()), black_box(&p256_sig))
        })
    });
    group.bench_function(format!("validate_es256_{backend}"), |b| {
        b.iter(|| validator.validate(black_box(&token), &ctx).expect("valid"))
    });
    group.finish();

    let header = serde_json::json!({
        "alg": "ES256", "nonce": "abc", "url": "https://ca.example.com/acme/new-order",
        "kid": "https://ca.example.com/acme/acct/1",
    });
    let protected = b64(header.to_string());
    let payload = b64(br#"{"identifiers":[{"type":"dns","value":"a.example.com"}]}"#);
    let sig = key
        .sign_jws(format!("{protected}.{payload}").as_bytes())
        .expect("sign");
    let body =
        serde_json::json!({"protected": protected, "payload": payload, "signature": b64(sig)})
            .to_string();
    let public = key.public_key().clone();
    c.bench_function("acme_jws/parse_and_verify_es256", |b| {
        b.iter(|| {
            AcmeJws::parse(black_box(body.as_bytes()))
                .and_then(|jws| jws.verify(&public))
                .expect("valid")
        })
    });
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_url(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url")
}

criterion_group!(benches, bench);
criterion_main!(benches);
