//! Refusals: JWEs Mayfly must not decrypt (CPU bombs, foreign algorithms) and ACME JWSs that
//! break RFC 8555 §6.2 / §7.3.4; plus JWK round trips for every key type.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use mayfly_jwt::{
    AcmeJws, ContentEncryption, JweError, Jwk, JwsError, Pbes2Options, decrypt_jwk, decrypt_pbes2,
    encrypt_pbes2, verify_eab,
};
use mayfly_keys::{KeyType, Password, PrivateKey, Signer};
use serde_json::{Value, json};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn password() -> Password {
    Password::from_bytes(b"pw".to_vec())
}

fn fast() -> Pbes2Options {
    Pbes2Options {
        p2c: 1000,
        ..Pbes2Options::default()
    }
}

#[test]
fn private_jwks_of_every_key_type_round_trip() {
    let rsa =
        std::fs::read(mayfly_testkit::step_fixtures().join("crypto/jose/testdata/rsa.priv.json"))
            .expect("fixture");
    let rsa = Jwk::from_json(&rsa)
        .and_then(|j| j.to_private_key())
        .expect("rsa");
    let keys = [KeyType::EcP256, KeyType::EcP384, KeyType::Ed25519]
        .map(|t| PrivateKey::generate(t).expect("key"));
    for key in keys.iter().chain([&rsa]) {
        let jwk = Jwk::from_private_key(key).expect("jwk");
        for enc in [
            ContentEncryption::A128Gcm,
            ContentEncryption::A192Gcm,
            ContentEncryption::A256Gcm,
        ] {
            let options = Pbes2Options { enc, ..fast() };
            let jwe = encrypt_pbes2(
                jwk.to_json().expect("json").as_bytes(),
                &password(),
                &options,
            )
            .expect("encrypt");
            let back = decrypt_jwk(&jwe, &password()).expect("decrypt");
            assert_eq!(back, jwk);
            let loaded = back.to_private_key().expect("loads");
            assert_eq!(
                loaded.public_key().to_spki_der().ok(),
                key.public_key().to_spki_der().ok()
            );
            let json = mayfly_jwt::compact_to_json(&jwe).expect("json form");
            assert_eq!(decrypt_jwk(&json, &password()).expect("decrypt json"), jwk);
        }
        assert!(format!("{jwk:?}").contains("private: true"));
        assert!(!format!("{jwk:?}").contains(jwk.d.as_deref().expect("d")));
    }
}

/// `jwe` with its protected header edited (the tag no longer matches, but every check here
/// comes before decryption).
fn with_header(jwe: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
    let mut header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[0]).expect("b64")).expect("json");
    edit(&mut header);
    parts[0] = b64(header.to_string());
    parts.join(".")
}

#[test]
fn bad_jwes_are_refused_before_any_work() {
    let jwe = encrypt_pbes2(b"{}", &password(), &fast()).expect("encrypt");
    let refused = |jwe: String| decrypt_pbes2(&jwe, &password()).expect_err("refused");
    assert!(matches!(
        refused(with_header(&jwe, |h| h["p2c"] = json!(10_000_001))),
        JweError::IterationCount(10_000_001)
    ));
    assert!(matches!(
        refused(with_header(&jwe, |h| h["p2c"] = json!(999))),
        JweError::IterationCount(999)
    ));
    assert!(matches!(
        refused(with_header(&jwe, |h| h["alg"] = json!("dir"))),
        JweError::UnsupportedAlg(_)
    ));
    assert!(matches!(
        refused(with_header(&jwe, |h| h["enc"] = json!("A128CBC-HS256"))),
        JweError::UnsupportedEnc(_)
    ));
    assert!(matches!(
        refused(with_header(&jwe, |h| h["zip"] = json!("DEF"))),
        JweError::UnsupportedHeader(_)
    ));
    assert!(matches!(
        refused(with_header(&jwe, |h| h["p2s"] = json!("AAAA"))),
        JweError::Salt
    ));
    assert!(matches!(
        refused(with_header(&jwe, |h| h["cty"] = json!("x"))),
        JweError::Decryption
    ));
    assert!(matches!(
        refused(jwe.replacen('.', "", 1)),
        JweError::Malformed(_)
    ));
    let bomb = Pbes2Options {
        p2c: 20_000_000,
        ..fast()
    };
    assert!(matches!(
        encrypt_pbes2(b"{}", &password(), &bomb),
        Err(JweError::IterationCount(_))
    ));
    let not_a_jwk = encrypt_pbes2(b"[1]", &password(), &fast()).expect("encrypt");
    assert!(matches!(
        decrypt_jwk(&not_a_jwk, &password()),
        Err(JweError::Content(_))
    ));
}

/// A flattened JWS over `payload` with `header`, signed by `key` (or with `signature`).
fn acme_jws(header: &Value, payload: &[u8], key: &PrivateKey) -> Value {
    let protected = b64(header.to_string());
    let payload = b64(payload);
    let signature = key
        .sign_jws(format!("{protected}.{payload}").as_bytes())
        .expect("sign");
    json!({"protected": protected, "payload": payload, "signature": b64(signature)})
}

const URL: &str = "https://ca.example.com/acme/new-account";

#[test]
fn acme_jws_shape_is_enforced() {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let jwk = Jwk::from_public_key(key.public_key()).expect("jwk");
    let public = serde_json::to_value(&jwk).expect("json");
    let good = json!({"alg": "ES256", "nonce": "n", "url": URL, "jwk": public});
    let parse = |jws: &Value| AcmeJws::parse(jws.to_string().as_bytes());
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut header = good.clone();
        edit(&mut header);
        acme_jws(&header, b"{}", &key)
    };
    let refused = |jws: Value| parse(&jws).expect_err("refused");

    let (payload, found) = parse(&acme_jws(&good, b"{}", &key))
        .expect("parse")
        .verify_with_jwk()
        .expect("verify");
    assert_eq!((payload.as_slice(), found), (&b"{}"[..], jwk.clone()));

    let mut unprotected = acme_jws(&good, b"{}", &key);
    unprotected["header"] = json!({"kid": "x"});
    assert!(matches!(refused(unprotected), JwsError::UnprotectedHeader));
    assert!(matches!(
        refused(edited(&|h| h["kid"] = json!("acct"))),
        JwsError::KeyChoice
    ));
    assert!(matches!(
        refused(edited(&|h| {
            h.as_object_mut().expect("o").remove("jwk");
        })),
        JwsError::KeyChoice
    ));
    assert!(matches!(
        refused(edited(&|h| h["alg"] = json!("none"))),
        JwsError::BadAlg(_)
    ));
    assert!(matches!(
        refused(edited(&|h| h["alg"] = json!("HS256"))),
        JwsError::BadAlg(_)
    ));
    assert!(matches!(
        refused(edited(&|h| {
            h.as_object_mut().expect("o").remove("nonce");
        })),
        JwsError::MissingHeader("nonce")
    ));
    assert!(matches!(
        refused(edited(&|h| {
            h.as_object_mut().expect("o").remove("url");
        })),
        JwsError::MissingHeader("url")
    ));
    let private = serde_json::to_value(Jwk::from_private_key(&key).expect("jwk")).expect("json");
    assert!(matches!(
        refused(edited(&|h| h["jwk"] = private.clone())),
        JwsError::Malformed(_)
    ));
    assert!(matches!(
        refused(json!({"protected": "e30", "payload": "", "signature": "", "extra": 1})),
        JwsError::Malformed(_)
    ));
    assert!(matches!(
        AcmeJws::parse(&vec![b' '; 70_000]),
        Err(JwsError::TooLarge(_))
    ));

    let mismatch = parse(&edited(&|h| h["alg"] = json!("ES384"))).expect("parse");
    assert!(matches!(
        mismatch.verify_with_jwk(),
        Err(JwsError::AlgKeyMismatch { .. })
    ));
    let other = PrivateKey::generate(KeyType::EcP256).expect("key");
    let forged = parse(&acme_jws(&good, b"{}", &other)).expect("parse");
    assert!(matches!(
        forged.verify_with_jwk(),
        Err(JwsError::BadSignature)
    ));
    let by_kid = json!({"alg": "ES256", "nonce": "n", "url": URL, "kid": "https://ca/acct/1"});
    let by_kid = parse(&acme_jws(&by_kid, b"", &key)).expect("parse");
    assert!(matches!(
        by_kid.verify_with_jwk(),
        Err(JwsError::WrongKeyKind("jwk"))
    ));
    assert!(
        by_kid
            .verify(key.public_key())
            .expect("POST-as-GET")
            .is_empty()
    );
}

fn eab(header: &Value, payload: &Jwk, mac_key: &[u8]) -> Value {
    let protected = b64(header.to_string());
    let payload = b64(payload.to_json().expect("json").as_bytes());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(mac_key).expect("mac");
    mac.update(format!("{protected}.{payload}").as_bytes());
    json!({"protected": protected, "payload": payload, "signature": b64(mac.finalize().into_bytes())})
}

#[test]
fn external_account_binding_is_checked() {
    let account = Jwk::from_public_key(
        PrivateKey::generate(KeyType::EcP256)
            .expect("k")
            .public_key(),
    )
    .expect("jwk");
    let stranger = Jwk::from_public_key(
        PrivateKey::generate(KeyType::Ed25519)
            .expect("k")
            .public_key(),
    )
    .expect("jwk");
    let secret = b"an EAB MAC key of 32 bytes......";
    let header = json!({"alg": "HS256", "kid": "kid-1", "url": URL});
    let lookup = |kid: &str| (kid == "kid-1").then(|| secret.to_vec());
    let check = |eab: &Value| verify_eab(eab, &account, URL, lookup);

    assert_eq!(
        check(&eab(&header, &account, secret)).expect("valid"),
        "kid-1"
    );
    assert!(matches!(
        check(&eab(&header, &account, b"wrong key")),
        Err(JwsError::BadSignature)
    ));
    assert!(matches!(
        check(&eab(&header, &stranger, secret)),
        Err(JwsError::EabKeyMismatch)
    ));
    let mut with_nonce = header.clone();
    with_nonce["nonce"] = json!("n");
    assert!(matches!(
        check(&eab(&with_nonce, &account, secret)),
        Err(JwsError::EabNonce)
    ));
    let mut elsewhere = header.clone();
    elsewhere["url"] = json!("https://ca.example.com/other");
    assert!(matches!(
        check(&eab(&elsewhere, &account, secret)),
        Err(JwsError::UrlMismatch { .. })
    ));
    let mut unknown = header.clone();
    unknown["kid"] = json!("kid-2");
    assert!(matches!(
        check(&eab(&unknown, &account, secret)),
        Err(JwsError::BadSignature)
    ));
    let mut es256 = header;
    es256["alg"] = json!("ES256");
    assert!(matches!(
        check(&eab(&es256, &account, secret)),
        Err(JwsError::BadAlg(_))
    ));
}
