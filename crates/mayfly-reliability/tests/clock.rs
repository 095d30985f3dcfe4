//! Clock skew: a token from a client whose clock is 2 min ahead, or one that expired 2 min
//! ago, is refused with a message that says so; within the 60 s leeway it is accepted.

use std::time::{Duration, SystemTime};

use mayfly_jwt::{Operation, mint_token};
use mayfly_keys::{KeyType, PrivateKey};
use mayfly_reliability::{Ca, Https};
use mayfly_template::{San, build_request};
use mayfly_testkit::temp_dir;

fn csr(name: &str) -> String {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let der = build_request(name, &[San::guess(name)], &key).expect("csr");
    der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der).expect("pem")
}

/// Signs with a token whose `nbf`/`iat`/`exp` are shifted by `nbf_shift` seconds and whose
/// lifetime is `lifetime`; returns the status and message.
fn sign_with(
    ca: &Ca,
    https: &Https,
    key: &(PrivateKey, String),
    nbf_shift: i64,
    lifetime: u64,
) -> (u16, String) {
    let now = SystemTime::now();
    let at = if nbf_shift >= 0 {
        now + Duration::from_secs(nbf_shift.unsigned_abs())
    } else {
        now - Duration::from_secs(nbf_shift.unsigned_abs())
    };
    let claims = ca
        .claims(Operation::Sign, "clock.example", at)
        .with_lifetime(Duration::from_secs(lifetime));
    let token = mint_token(&key.0, &key.1, &claims).expect("mint");
    let body = serde_json::json!({"csr": csr("clock.example"), "ott": token}).to_string();
    let reply = https
        .call("POST", "/1.0/sign", body.as_bytes())
        .expect("an answer");
    let message = reply
        .json()
        .and_then(|j| j["message"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (reply.status, message)
}

#[test]
fn skewed_tokens_are_refused_with_a_message_and_the_leeway_is_60_seconds() {
    let dir = temp_dir();
    let ca = Ca::init(dir.path());
    let https = ca.https();
    let key = ca.provisioner();

    // A client clock 2 min ahead: not valid yet.
    let (status, message) = sign_with(&ca, &https, &key, 120, 300);
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("not valid before"), "{message}");
    // Minted 7 min ago with the 5 min lifetime: expired 2 min ago.
    let (status, message) = sign_with(&ca, &https, &key, -420, 300);
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("expired"), "{message}");
    // Just beyond the leeway either way.
    let (status, message) = sign_with(&ca, &https, &key, 75, 300);
    assert_eq!(status, 401, "{message}");
    let (status, message) = sign_with(&ca, &https, &key, -375, 300);
    assert_eq!(status, 401, "{message}");
    // Within the 60 s leeway: accepted.
    let (status, message) = sign_with(&ca, &https, &key, 30, 300);
    assert_eq!(
        status, 201,
        "a token 30 s ahead is within the leeway: {message}"
    );
    let (status, message) = sign_with(&ca, &https, &key, -330, 300);
    assert_eq!(
        status, 201,
        "a token expired 30 s ago is within the leeway: {message}"
    );
    println!("clock: 4 skewed tokens refused with a message, 2 within the 60 s leeway accepted");
}
