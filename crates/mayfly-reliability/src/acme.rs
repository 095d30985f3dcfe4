//! Hostile ACME requests (RFC 8555 §6.2): flattened JWS bodies built against a live CA at
//! replay time, each broken in one way (url, nonce, alg, key choice, encoding, size).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use mayfly_jwt::Jwk;
use mayfly_keys::{KeyType, PrivateKey, Signer as _};
use serde_json::{Value, json};

use crate::{Ca, Https};

/// Every kind [`hostile_jws`] builds.
pub const JWS_KINDS: &[&str] = &[
    "wrong_url",
    "wrong_url_host",
    "url_missing",
    "nonce_garbage",
    "nonce_forged",
    "nonce_missing",
    "nonce_replayed",
    "alg_none",
    "alg_hs256",
    "alg_rs256_on_ec",
    "jwk_and_kid",
    "neither_jwk_nor_kid",
    "kid_unknown_account",
    "kid_not_a_url",
    "jwk_private",
    "jwk_garbage",
    "other_key",
    "signature_stripped",
    "protected_bad_base64",
    "payload_bad_base64",
    "signature_bad_base64",
    "protected_not_json",
    "unprotected_header",
    "compact_serialization",
    "payload_huge",
];

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

/// A fresh nonce from `GET {directory}/new-nonce`.
fn fresh_nonce(https: &Https, directory: &str) -> String {
    let reply = https
        .call("GET", &format!("{directory}/new-nonce"), b"")
        .expect("new-nonce answers");
    reply
        .headers
        .iter()
        .find(|(k, _)| k == "replay-nonce")
        .map(|(_, v)| v.clone())
        .expect("a Replay-Nonce header")
}

/// Signs `protected` and `payload` with `key` into a flattened JWS (JSON value).
fn sign(protected: &Value, payload: &str, key: &PrivateKey) -> Value {
    let protected = b64(protected.to_string());
    let input = format!("{protected}.{payload}");
    let signature = key.sign_jws(input.as_bytes()).expect("sign");
    json!({"protected": protected, "payload": payload, "signature": b64(signature)})
}

/// The body of an ACME POST to `path` (`/acme/<provisioner>/<resource>`) on `ca`, broken as
/// `kind` says (one of [`JWS_KINDS`], or `valid`); everything else about it is right (a fresh nonce, the
/// request URL, a real ES256 signature by the `jwk` it carries).
pub fn hostile_jws(ca: &Ca, https: &Https, kind: &str, path: &str) -> String {
    let directory = path.rsplit_once('/').map_or(path, |(d, _)| d);
    let url = format!("https://127.0.0.1:{}{path}", ca.port);
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let jwk = serde_json::to_value(Jwk::from_public_key(key.public_key()).expect("jwk"))
        .expect("jwk JSON");
    let nonce = fresh_nonce(https, directory);
    let account = format!("https://127.0.0.1:{}{directory}/account/", ca.port);
    let mut header = json!({"alg": "ES256", "nonce": nonce, "url": url, "jwk": jwk});
    let payload = b64(json!({"termsOfServiceAgreed": true}).to_string());
    let mut signer = key;
    match kind {
        "valid" => {}
        "wrong_url" => header["url"] = json!(url.replace("new-account", "new-order")),
        "wrong_url_host" => header["url"] = json!(url.replace("127.0.0.1", "evil.example")),
        "url_missing" => _ = header.as_object_mut().map(|h| h.remove("url")),
        "nonce_garbage" => header["nonce"] = json!("not-a-nonce!"),
        "nonce_forged" => header["nonce"] = json!(b64([7u8; 56])),
        "nonce_missing" => _ = header.as_object_mut().map(|h| h.remove("nonce")),
        "nonce_replayed" => {
            // Spend the nonce on a good request first.
            let first = sign(&header, &payload, &signer).to_string();
            let headers = ["Content-Type: application/jose+json".to_owned()];
            let raw = https.request("POST", path, &headers, first.as_bytes());
            let reply = https.send(&raw).expect("the first use answers");
            assert!(
                reply.status < 300,
                "the first use of the nonce failed: {}",
                reply.text()
            );
        }
        "alg_none" => {
            header["alg"] = json!("none");
            let protected = b64(header.to_string());
            return json!({"protected": protected, "payload": payload, "signature": ""})
                .to_string();
        }
        "alg_hs256" => {
            header["alg"] = json!("HS256");
            let protected = b64(header.to_string());
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(jwk.to_string().as_bytes())
                .expect("any key length");
            mac.update(format!("{protected}.{payload}").as_bytes());
            let signature = b64(mac.finalize().into_bytes());
            return json!({"protected": protected, "payload": payload, "signature": signature})
                .to_string();
        }
        "alg_rs256_on_ec" => header["alg"] = json!("RS256"),
        "jwk_and_kid" => header["kid"] = json!(format!("{account}1")),
        "neither_jwk_nor_kid" => _ = header.as_object_mut().map(|h| h.remove("jwk")),
        "kid_unknown_account" | "kid_not_a_url" => {
            let h = header.as_object_mut().expect("object");
            h.remove("jwk");
            let kid = if kind == "kid_not_a_url" {
                "1234".to_owned()
            } else {
                format!("{account}no-such-account")
            };
            h.insert("kid".into(), json!(kid));
        }
        "jwk_private" => {
            let private = Jwk::from_private_key(&signer).expect("private jwk");
            header["jwk"] = serde_json::to_value(private).expect("jwk JSON");
        }
        "jwk_garbage" => header["jwk"] = json!({"kty": "EC", "crv": "P-256", "x": "AA"}),
        "other_key" => signer = PrivateKey::generate(KeyType::EcP256).expect("key"),
        "signature_stripped" => {
            let mut jws = sign(&header, &payload, &signer);
            jws["signature"] = json!("");
            return jws.to_string();
        }
        "protected_bad_base64" | "payload_bad_base64" | "signature_bad_base64" => {
            let mut jws = sign(&header, &payload, &signer);
            let member = kind.split('_').next().expect("member");
            jws[member] = json!("!!not*base64url==");
            return jws.to_string();
        }
        "protected_not_json" => {
            let protected = b64("{\"alg\": \"ES256\", ");
            let input = format!("{protected}.{payload}");
            let signature = b64(signer.sign_jws(input.as_bytes()).expect("sign"));
            return json!({"protected": protected, "payload": payload, "signature": signature})
                .to_string();
        }
        "unprotected_header" => {
            let mut jws = sign(&header, &payload, &signer);
            jws["header"] = json!({"kid": format!("{account}1")});
            return jws.to_string();
        }
        "compact_serialization" => {
            let jws = sign(&header, &payload, &signer);
            return format!(
                "{}.{}.{}",
                jws["protected"].as_str().unwrap_or_default(),
                payload,
                jws["signature"].as_str().unwrap_or_default()
            );
        }
        "payload_huge" => {
            let big =
                b64(json!({"contact": ["mailto:".to_owned() + &"a".repeat(100_000)]}).to_string());
            return sign(&header, &big, &signer).to_string();
        }
        other => panic!("unknown hostile JWS kind {other:?}"),
    }
    sign(&header, &payload, &signer).to_string()
}
