use super::*;

/// RFC 7638 §3.1: the example RSA key and its thumbprint.
#[test]
fn rfc7638_example_thumbprint() {
    let jwk = Jwk::from_json(
        br#"{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29",
        "n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#,
    )
    .expect("JWK");
    assert_eq!(
        jwk.thumbprint().expect("thumbprint"),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
    assert!(matches!(jwk.to_private_key(), Err(JwkError::NotPrivate)));
}

#[test]
fn unusable_jwks_are_refused_by_name() {
    let refused = |json: &str| Jwk::from_json(json.as_bytes()).and_then(|j| j.to_public_key());
    assert!(matches!(
        refused(r#"{"kty":"EC","crv":"P-521","x":"AA","y":"AA"}"#),
        Err(JwkError::Unsupported(_))
    ));
    assert!(matches!(
        refused(r#"{"kty":"EC","crv":"P-256","y":"AA"}"#),
        Err(JwkError::MissingMember { member: "x", .. })
    ));
    assert!(matches!(
        refused(r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA"}"#),
        Err(JwkError::Malformed(_))
    ));
    assert!(matches!(
        refused(r#"{"kty":"oct","k":"AA"}"#),
        Err(JwkError::Unsupported(_))
    ));
    let tiny_rsa = refused(r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#);
    assert!(
        matches!(tiny_rsa, Err(JwkError::Malformed(_))),
        "{tiny_rsa:?}"
    );
    // An RSA-1024 modulus parses but is under Mayfly's 2048-bit minimum.
    let n = b64::encode([&[0xc3u8; 127][..], &[0x01]].concat());
    let rsa_1024 = refused(&format!(r#"{{"kty":"RSA","n":"{n}","e":"AQAB"}}"#));
    assert!(matches!(rsa_1024, Err(JwkError::Key(_))), "{rsa_1024:?}");
    assert!(matches!(
        refused(r#"{"crv":"P-256"}"#),
        Err(JwkError::Malformed(_))
    ));
}
