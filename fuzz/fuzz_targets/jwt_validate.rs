//! One-time tokens: the input is either a compact JWS as a client sends it (first byte
//! even), or a header and claims (split at the first newline) that the provisioner's own key
//! signs, so that every claim check past the signature is reached.
#![no_main]

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use mayfly_jwt::{
    CaAddresses, Jwk, Operation, ProvisionerKey, Provisioners, TokenValidator, ValidationContext,
};
use mayfly_keys::{KeyType, PrivateKey, Signer};

struct Setup {
    key: PrivateKey,
    provisioners: Provisioners,
    ctx: ValidationContext,
}

static SETUP: LazyLock<Setup> = LazyLock::new(|| {
    let key = PrivateKey::generate(KeyType::Ed25519).expect("key");
    let jwk = Jwk::from_public_key(key.public_key()).expect("jwk");
    let mut provisioners = Provisioners::new();
    provisioners.insert(
        "prov",
        jwk.kid.as_deref().expect("kid"),
        ProvisionerKey::from_jwk(&jwk).expect("key"),
    );
    let mut ctx = ValidationContext::new(Operation::Sign, CaAddresses::new(["ca.example.com"]));
    ctx.now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    Setup {
        key,
        provisioners,
        ctx,
    }
});

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let at = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        let (header, claims) = (&rest[..at], rest.get(at + 1..).unwrap_or_default());
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = SETUP.key.sign_jws(input.as_bytes()).expect("sign");
        format!("{input}.{}", b64(&signature))
    };
    let _ = TokenValidator::new(&SETUP.provisioners).validate(&token, &SETUP.ctx);
});
