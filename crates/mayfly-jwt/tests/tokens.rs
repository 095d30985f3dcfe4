//! One-time tokens: minted by every key type and validated; and a table of bad tokens, each
//! refused with its own error.

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use mayfly_jwt::{
    CaAddresses, Jwk, MemoryReplay, Operation, ProvisionerKey, Provisioners, TokenClaims,
    TokenError, TokenValidator, ValidationContext, mint_token,
};
use mayfly_keys::{KeyType, PrivateKey, Signer};
use serde_json::{Value, json};

const AUD: &str = "https://ca.example.com:9000/1.0/sign";

struct Setup {
    p256: PrivateKey,
    p256_kid: String,
    other: PrivateKey,
    rsa: PrivateKey,
    rsa_kid: String,
    provisioners: Provisioners,
    now: SystemTime,
}

fn rsa_fixture() -> PrivateKey {
    let path = mayfly_testkit::step_fixtures().join("crypto/jose/testdata/rsa.priv.json");
    let json = std::fs::read(path).expect("fixture");
    Jwk::from_json(&json)
        .and_then(|jwk| jwk.to_private_key())
        .expect("RSA fixture")
}

fn setup() -> Setup {
    let p256 = PrivateKey::generate(KeyType::EcP256).expect("key");
    let p256_jwk = Jwk::from_public_key(p256.public_key()).expect("jwk");
    let p256_kid = p256_jwk.kid.clone().expect("kid");
    let rsa = rsa_fixture();
    let rsa_jwk = Jwk::from_public_key(rsa.public_key()).expect("jwk");
    let rsa_kid = rsa_jwk.kid.clone().expect("kid");
    let mut provisioners = Provisioners::new();
    provisioners.insert(
        "prov",
        &p256_kid,
        ProvisionerKey::from_jwk(&p256_jwk).expect("key"),
    );
    // The RSA JWK pins RS256.
    provisioners.insert(
        "rsa-prov",
        &rsa_kid,
        ProvisionerKey::from_jwk(&rsa_jwk).expect("key"),
    );
    // A P-256 provisioner that accepts any alg the key type allows, for the RS256 mismatch.
    let mut unpinned = ProvisionerKey::from_jwk(&p256_jwk).expect("key");
    unpinned.alg = None;
    provisioners.insert("unpinned", &rsa_kid, unpinned);
    Setup {
        p256,
        p256_kid,
        other: PrivateKey::generate(KeyType::EcP256).expect("key"),
        rsa,
        rsa_kid,
        provisioners,
        now: SystemTime::now(),
    }
}

fn ctx(now: SystemTime) -> ValidationContext {
    let mut ctx = ValidationContext::new(
        Operation::Sign,
        CaAddresses::new(["ca.example.com", "10.0.0.1", "[::1]"]),
    );
    ctx.now = now;
    ctx
}

fn unix(now: SystemTime) -> i64 {
    now.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token with any header and claims, signed by `signer`.
fn forge(header: &Value, claims: &Value, signer: &dyn Signer) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = signer.sign_jws(input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(signature))
}

impl Setup {
    fn header(&self) -> Value {
        json!({"alg": "ES256", "kid": self.p256_kid, "typ": "JWT"})
    }

    fn claims(&self) -> Value {
        let now = unix(self.now);
        json!({
            "iss": "prov", "sub": "www.example.com", "aud": AUD,
            "sans": ["www.example.com", "10.0.0.7"], "sha": "00ff",
            "nbf": now, "iat": now, "exp": now + 300,
            "jti": "a".repeat(64),
        })
    }

    /// A good token with `edit` applied to the claims.
    fn with_claims(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        edit(&mut claims);
        forge(&self.header(), &claims, &self.p256)
    }

    /// Like [`Setup::with_claims`] but signed by a key the provisioner does not have.
    fn badly_signed(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = self.claims();
        edit(&mut claims);
        forge(&self.header(), &claims, &self.other)
    }

    /// A good token with `edit` applied to the header.
    fn with_header(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut header = self.header();
        edit(&mut header);
        forge(&header, &self.claims(), &self.p256)
    }

    fn validate(&self, token: &str) -> Result<mayfly_jwt::ValidatedClaims, TokenError> {
        TokenValidator::new(&self.provisioners).validate(token, &ctx(self.now))
    }
}

#[test]
fn tokens_minted_with_every_key_type_validate() {
    let now = SystemTime::now();
    for key_type in [KeyType::EcP256, KeyType::EcP384, KeyType::Ed25519] {
        let key = PrivateKey::generate(key_type).expect("key");
        check_round_trip(&key, now);
    }
    let rsa = rsa_fixture();
    check_round_trip(&rsa, now);
    check_round_trip(&rsa.pss_signer().expect("an RSA key signs PS256"), now);
}

/// Mints with `key` for a provisioner whose JWK pins the key's algorithm, and validates.
fn check_round_trip(key: &dyn Signer, now: SystemTime) {
    let mut jwk = Jwk::from_public_key(key.public_key()).expect("jwk");
    jwk.alg = Some(key.algorithm().jws_name().into());
    let kid = jwk.kid.clone().expect("kid");
    let mut provisioners = Provisioners::new();
    provisioners.insert("prov", &kid, ProvisionerKey::from_jwk(&jwk).expect("key"));
    let claims = TokenClaims::new("prov", "host.example.com", AUD, now)
        .with_sans(vec!["host.example.com".into(), "10.1.2.3".into()])
        .with_root_fingerprint("abcd");
    let token = mint_token(key, &kid, &claims).expect("mint");
    let validated = TokenValidator::new(&provisioners)
        .validate(&token, &ctx(now))
        .expect("valid");
    assert_eq!(validated.subject, "host.example.com");
    assert_eq!(validated.sans, ["host.example.com", "10.1.2.3"]);
    assert_eq!(validated.audience, AUD);
    assert_eq!(validated.algorithm, key.algorithm());
    assert_eq!(validated.root_fingerprint.as_deref(), Some("abcd"));
    assert_eq!(validated.jti.len(), 64);
    assert!(validated.jti.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        validated.expires_at - validated.not_before.expect("nbf"),
        300
    );
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().expect("header"))
            .expect("b64"),
    )
    .expect("json");
    assert_eq!(
        header,
        json!({"alg": key.algorithm().jws_name(), "kid": kid, "typ": "JWT"})
    );
}

#[test]
fn edge_cases_that_are_accepted() {
    let s = setup();
    let now = unix(s.now);
    // Expired 30 s ago and not valid for another 30 s: both inside the 60 s leeway.
    s.validate(&s.with_claims(|c| {
        c["nbf"] = json!(now - 330);
        c["iat"] = json!(now - 330);
        c["exp"] = json!(now - 30);
    }))
    .expect("expired within leeway");
    s.validate(&s.with_claims(|c| c["nbf"] = json!(now + 30)))
        .expect("nbf within leeway");
    // Port-insensitive, case-insensitive host; IPv6; audience lists.
    for aud in [
        json!("https://CA.example.com/1.0/sign"),
        json!("https://10.0.0.1:443/1.0/sign"),
        json!("https://[::1]:9000/1.0/sign"),
        json!(["https://elsewhere/1.0/sign", AUD]),
    ] {
        s.validate(&s.with_claims(|c| c["aud"] = aud.clone()))
            .unwrap_or_else(|e| panic!("{aud}: {e}"));
    }
    // No sans: they default to [sub]; iat alone bounds the lifetime.
    let claims = s
        .validate(&s.with_claims(|c| {
            c.as_object_mut().expect("object").remove("sans");
            c.as_object_mut().expect("object").remove("nbf");
        }))
        .expect("valid");
    assert_eq!(claims.sans, ["www.example.com"]);
}

#[test]
fn a_token_is_used_once() {
    let s = setup();
    let replay = MemoryReplay::default();
    let validator = TokenValidator::new(&s.provisioners);
    let token = s.with_claims(|_| {});
    validator
        .validate_once(&token, &ctx(s.now), &replay)
        .expect("first use");
    let second = validator.validate_once(&token, &ctx(s.now), &replay);
    assert!(matches!(second, Err(TokenError::Replayed(jti)) if jti == "a".repeat(64)));
}

macro_rules! case {
    ($name:expr, $token:expr, $pattern:pat) => {
        (
            $name,
            $token,
            (|e: &TokenError| matches!(e, $pattern)) as fn(&TokenError) -> bool,
        )
    };
}

#[test]
fn bad_tokens_are_refused_each_with_its_own_error() {
    use TokenError as E;
    let s = setup();
    let now = unix(s.now);
    let good = s.with_claims(|_| {});
    let [h, c, sig]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().expect("3");
    let unsigned = |header: Value| format!("{}.{}.", b64(header.to_string()), c);
    let hs256 = {
        let header = json!({"alg": "HS256", "kid": s.p256_kid, "typ": "JWT"});
        let input = format!("{}.{c}", b64(header.to_string()));
        let secret = s.p256.public_key().to_pem().expect("pem");
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("mac");
        mac.update(input.as_bytes());
        format!("{input}.{}", b64(mac.finalize().into_bytes()))
    };
    let rsa_header = |alg: &str, iss: &str| {
        let claims = {
            let mut claims = s.claims();
            claims["iss"] = json!(iss);
            claims
        };
        let input = format!(
            "{}.{}",
            b64(json!({"alg": alg, "kid": s.rsa_kid, "typ": "JWT"}).to_string()),
            b64(claims.to_string())
        );
        let signature = if alg == "PS256" {
            s.rsa.sign_pss(input.as_bytes()).expect("pss")
        } else {
            s.rsa.sign_jws(input.as_bytes()).expect("rs256")
        };
        format!("{input}.{}", b64(signature))
    };
    let remove = |name: &'static str| {
        s.with_claims(move |c| {
            c.as_object_mut().expect("object").remove(name);
        })
    };

    let cases = [
        case!(
            "alg none",
            unsigned(json!({"alg": "none", "kid": s.p256_kid})),
            E::AlgNone
        ),
        case!("HS256 with the public key as secret", hs256, E::AlgHmac(_)),
        case!(
            "alg ES512",
            s.with_header(|h| h["alg"] = json!("ES512")),
            E::UnsupportedAlg(_)
        ),
        case!(
            "no alg",
            s.with_header(|h| {
                h.as_object_mut().expect("o").remove("alg");
            }),
            E::MissingAlg
        ),
        case!(
            "RS256 against a P-256 key",
            rsa_header("RS256", "unpinned"),
            E::AlgKeyMismatch { .. }
        ),
        case!(
            "PS256 against a key pinned to RS256",
            rsa_header("PS256", "rsa-prov"),
            E::AlgNotAllowed { .. }
        ),
        case!(
            "typ JWE",
            s.with_header(|h| h["typ"] = json!("JWE")),
            E::BadType(_)
        ),
        case!(
            "crit header",
            s.with_header(|h| h["crit"] = json!(["exp"])),
            E::CriticalHeader
        ),
        case!(
            "embedded jwk",
            s.with_header(|h| h["jwk"] = json!({})),
            E::ForbiddenHeader("jwk")
        ),
        case!(
            "key URL jku",
            s.with_header(|h| h["jku"] = json!("https://evil")),
            E::ForbiddenHeader("jku")
        ),
        case!(
            "no kid",
            s.with_header(|h| {
                h.as_object_mut().expect("o").remove("kid");
            }),
            E::MissingKid
        ),
        case!(
            "header not JSON",
            format!("{}.{c}.{sig}", b64("{alg")),
            E::BadHeader(_)
        ),
        case!(
            "alg given twice",
            format!(
                "{}.{c}.{sig}",
                b64(format!(
                    r#"{{"alg":"ES256","alg":"none","kid":"{}"}}"#,
                    s.p256_kid
                ))
            ),
            E::BadHeader(_)
        ),
        case!(
            "header not base64url",
            format!("{h}*.{c}.{sig}"),
            E::BadEncoding("header")
        ),
        case!(
            "claims not base64url",
            format!("{h}.{c}*.{sig}"),
            E::BadEncoding("claims")
        ),
        case!(
            "exp is a string",
            s.with_claims(|c| c["exp"] = json!("soon")),
            E::BadClaims(_)
        ),
        case!(
            "signature not base64url",
            format!("{h}.{c}.{sig}*"),
            E::BadEncoding("signature")
        ),
        case!("truncated", format!("{h}.{c}"), E::NotCompact),
        case!(
            "oversized",
            format!("{h}.{}.{sig}", "A".repeat(20_000)),
            E::TooLarge { .. }
        ),
        case!("no iss", remove("iss"), E::MissingIssuer),
        case!(
            "wrong iss",
            s.with_claims(|c| c["iss"] = json!("nobody")),
            E::UnknownIssuer(_)
        ),
        case!(
            "unknown kid",
            s.with_header(|h| h["kid"] = json!("nope")),
            E::UnknownKid { .. }
        ),
        case!(
            "signed by another key",
            forge(&s.header(), &s.claims(), &s.other),
            E::BadSignature
        ),
        case!(
            "tampered claims",
            format!(
                "{h}.{}.{sig}",
                b64(s.claims().to_string().replace("www.", "evil."))
            ),
            E::BadSignature
        ),
        case!("no exp", remove("exp"), E::MissingExpiry),
        case!(
            "expired",
            s.with_claims(|c| {
                c["nbf"] = json!(now - 400);
                c["iat"] = json!(now - 400);
                c["exp"] = json!(now - 100);
            }),
            E::Expired { .. }
        ),
        case!(
            "not yet valid",
            s.with_claims(|c| {
                c["nbf"] = json!(now + 120);
                c["exp"] = json!(now + 300);
            }),
            E::NotYetValid { .. }
        ),
        case!(
            "issued in the future",
            s.with_claims(|c| c["iat"] = json!(now + 120)),
            E::IssuedInFuture { .. }
        ),
        case!(
            "neither nbf nor iat",
            s.with_claims(|c| {
                let o = c.as_object_mut().expect("o");
                o.remove("nbf");
                o.remove("iat");
            }),
            E::MissingStart
        ),
        case!(
            "exp before nbf",
            s.with_claims(|c| {
                c["nbf"] = json!(now + 30);
                c["exp"] = json!(now + 20);
            }),
            E::InconsistentTimes { .. }
        ),
        case!(
            "too long-lived",
            s.with_claims(|c| c["exp"] = json!(now + 301)),
            E::LifetimeTooLong {
                lifetime: 301,
                max: 300
            }
        ),
        case!("no aud", remove("aud"), E::MissingAudience),
        case!(
            "aud over http",
            s.with_claims(|c| c["aud"] = json!("http://ca.example.com/1.0/sign")),
            E::BadAudience(_)
        ),
        case!(
            "aud for revoke",
            s.with_claims(|c| c["aud"] = json!("https://ca.example.com/1.0/revoke")),
            E::WrongOperation { .. }
        ),
        case!(
            "aud of another CA",
            s.with_claims(|c| c["aud"] = json!("https://evil.example.com/1.0/sign")),
            E::UnknownAudienceHost(_)
        ),
        case!("no sub", remove("sub"), E::MissingSubject),
        case!(
            "empty sub",
            s.with_claims(|c| c["sub"] = json!("")),
            E::EmptySubject
        ),
        case!(
            "empty SAN",
            s.with_claims(|c| c["sans"] = json!(["www.example.com", ""])),
            E::EmptySan
        ),
        case!("no jti", remove("jti"), E::MissingJti),
        case!(
            "short jti",
            s.with_claims(|c| c["jti"] = json!("0123456789abcde")),
            E::JtiTooShort(15)
        ),
        case!(
            "huge jti",
            s.with_claims(|c| c["jti"] = json!("f".repeat(300))),
            E::JtiTooLong
        ),
    ];
    let variants = refused_as_expected(&s, &cases);
    assert!(cases.len() >= 40, "{} cases", cases.len());
    // Every check has its own variant (ForbiddenHeader, BadEncoding, BadHeader and
    // BadSignature repeat with different members or causes).
    assert_eq!(variants.len(), cases.len() - 5);
}

type Case = (&'static str, String, fn(&TokenError) -> bool);

/// Validates every case's token, asserts it is refused with the expected error, and returns
/// the error variants seen.
fn refused_as_expected(s: &Setup, cases: &[Case]) -> HashSet<std::mem::Discriminant<TokenError>> {
    let mut variants = HashSet::new();
    for (name, token, expected) in cases {
        match s.validate(token) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => {
                assert!(expected(&e), "{name}: wrong error {e:?}");
                variants.insert(std::mem::discriminant(&e));
            }
        }
    }
    variants
}

/// Tokens with two defects: the error is that of the check that comes first in
/// `TokenValidator::validate`, so reordering the checks fails this test.
#[test]
fn checks_run_in_the_documented_order() {
    use TokenError as E;
    let s = setup();
    let now = unix(s.now);
    let expired = |c: &mut Value| {
        c["nbf"] = json!(now - 400);
        c["iat"] = json!(now - 400);
        c["exp"] = json!(now - 100);
    };
    let other_ca = json!("https://evil.example.com/1.0/sign");
    let cases: [Case; 12] = [
        case!(
            "oversized + alg none",
            format!(
                "{}.{}.",
                b64(json!({"alg": "none", "kid": s.p256_kid}).to_string()),
                "A".repeat(20_000)
            ),
            E::TooLarge { .. }
        ),
        case!(
            "alg none + unknown kid",
            forge(&json!({"alg": "none", "kid": "nope"}), &s.claims(), &s.p256),
            E::AlgNone
        ),
        case!(
            "unknown iss + bad signature",
            s.badly_signed(|c| c["iss"] = json!("nobody")),
            E::UnknownIssuer(_)
        ),
        case!(
            "unknown kid + bad signature",
            forge(
                &json!({"alg": "ES256", "kid": "nope", "typ": "JWT"}),
                &s.claims(),
                &s.other
            ),
            E::UnknownKid { .. }
        ),
        case!(
            "alg of another key type + expired",
            forge(
                &json!({"alg": "ES384", "kid": s.p256_kid, "typ": "JWT"}),
                &{
                    let mut c = s.claims();
                    expired(&mut c);
                    c
                },
                &s.p256
            ),
            E::AlgKeyMismatch { .. }
        ),
        case!(
            "expired + bad signature",
            s.badly_signed(expired),
            E::BadSignature
        ),
        case!(
            "expired + wrong aud",
            s.with_claims(|c| {
                expired(c);
                c["aud"] = other_ca.clone();
            }),
            E::Expired { .. }
        ),
        case!(
            "not yet valid + too long-lived",
            s.with_claims(|c| {
                c["nbf"] = json!(now + 120);
                c["exp"] = json!(now + 120 + 400);
            }),
            E::NotYetValid { .. }
        ),
        case!(
            "too long-lived + wrong aud",
            s.with_claims(|c| {
                c["exp"] = json!(now + 301);
                c["aud"] = other_ca.clone();
            }),
            E::LifetimeTooLong { .. }
        ),
        case!(
            "wrong aud + empty sub",
            s.with_claims(|c| {
                c["aud"] = other_ca.clone();
                c["sub"] = json!("");
            }),
            E::UnknownAudienceHost(_)
        ),
        case!(
            "empty sub + empty SAN",
            s.with_claims(|c| {
                c["sub"] = json!("");
                c["sans"] = json!([""]);
            }),
            E::EmptySubject
        ),
        case!(
            "empty SAN + no jti",
            s.with_claims(|c| {
                c["sans"] = json!(["www.example.com", ""]);
                c.as_object_mut().expect("object").remove("jti");
            }),
            E::EmptySan
        ),
    ];
    refused_as_expected(&s, &cases);
}

#[test]
fn the_maximum_lifetime_is_per_provisioner() {
    let key = PrivateKey::generate(KeyType::EcP256).expect("key");
    let jwk = Jwk::from_public_key(key.public_key()).expect("jwk");
    let kid = jwk.kid.clone().expect("kid");
    let mut provisioners = Provisioners::new();
    let long = ProvisionerKey::from_jwk(&jwk)
        .expect("key")
        .with_max_lifetime(Duration::from_secs(3600));
    provisioners.insert("long", &kid, long);
    let now = SystemTime::now();
    let claims = TokenClaims::new("long", "a.example.com", AUD, now)
        .with_lifetime(Duration::from_secs(3600));
    let token = mint_token(&key, &kid, &claims).expect("mint");
    TokenValidator::new(&provisioners)
        .validate(&token, &ctx(now))
        .expect("an hour is allowed here");
    let claims = claims.with_lifetime(Duration::from_secs(3601));
    let token = mint_token(&key, &kid, &claims).expect("mint");
    assert!(matches!(
        TokenValidator::new(&provisioners).validate(&token, &ctx(now)),
        Err(TokenError::LifetimeTooLong {
            lifetime: 3601,
            max: 3600
        })
    ));
}
