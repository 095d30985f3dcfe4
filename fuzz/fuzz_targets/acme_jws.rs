//! An ACME request body (flattened JWS, RFC 8555 §6.2): parse it, then verify it with a
//! fixed P-256 key (or the `jwk` it carries).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use mayfly_jwt::{AcmeJws, AcmeKey};
use mayfly_keys::{KeyType, PrivateKey, Signer as _};

static KEY: LazyLock<PrivateKey> =
    LazyLock::new(|| PrivateKey::generate(KeyType::EcP256).expect("key"));

fuzz_target!(|data: &[u8]| {
    let Ok(jws) = AcmeJws::parse(data) else {
        return;
    };
    let _ = jws.verify(KEY.public_key());
    if let AcmeKey::Jwk(jwk) = &jws.header().key
        && let Ok(key) = jwk.to_public_key()
    {
        let _ = jws.verify(&key);
    }
});
