//! Hostile one-time tokens: the rows of the JWT issue's table, each forged against a live CA.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hmac::{Hmac, KeyInit as _, Mac as _};
use mayfly_jwt::{Operation, TokenClaims, mint_token};
use mayfly_keys::{KeyType, PrivateKey, Signer as _};

use crate::Ca;

/// Every kind [`hostile_token`] forges.
pub const TOKEN_KINDS: &[&str] = &[
    "none",
    "none_lower",
    "hs256_pubkey",
    "expired",
    "expired_61s",
    "future_2m",
    "nbf_future_2m",
    "iat_future_2m",
    "lifetime_1h",
    "wrong_aud",
    "aud_other_route",
    "aud_empty",
    "wrong_iss",
    "unknown_kid",
    "no_kid",
    "bad_signature",
    "signature_stripped",
    "other_key",
    "missing_jti",
    "missing_exp",
    "missing_sub",
    "sans_mismatch",
    "two_parts",
    "four_parts",
    "empty_parts",
    "not_base64",
    "header_not_json",
    "claims_not_json",
    "huge",
    "alg_rs256_on_ec",
    "alg_es384_on_p256",
    "crit_header",
    "exp_string",
    "jti_short",
    "replayed",
    "revoke_token_for_sign",
    "sign_token_for_revoke",
    "sig_der_encoded",
    "unicode_alg",
    "nested_jws",
];

fn b64(bytes: impl AsRef<[u8]>) -> String {
    B64.encode(bytes)
}

fn signed(key: &PrivateKey, header: &serde_json::Value, claims: &serde_json::Value) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let sig = key.sign_jws(input.as_bytes()).expect("sign");
    format!("{input}.{}", b64(sig))
}

/// DER `SEQUENCE { INTEGER r, INTEGER s }` of a raw `r || s` signature.
fn der_signature(raw: &[u8]) -> Vec<u8> {
    let int = |half: &[u8]| {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        v.extend(trimmed);
        let mut out = vec![0x02, u8::try_from(v.len()).unwrap_or(0)];
        out.extend(v);
        out
    };
    let (r, s) = raw.split_at(raw.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, u8::try_from(body.len()).unwrap_or(0)];
    out.extend(body);
    out
}

/// A token of `kind` (one of [`TOKEN_KINDS`]) for `operation` on `subject`, signed with the
/// provisioner `key` unless the kind says otherwise. `spent` is a token the CA already
/// accepted once (for `replayed`). Every one of them must be refused.
pub fn hostile_token(
    ca: &Ca,
    key: &(PrivateKey, String),
    kind: &str,
    operation: Operation,
    subject: &str,
    spent: &str,
) -> String {
    let (pk, kid) = key;
    let now = SystemTime::now();
    let mut claims: TokenClaims = ca.claims(operation, subject, now);
    if operation == Operation::Revoke {
        claims.sans = None;
    }
    let alg = pk.algorithm().jws_name();
    let header = serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"});
    let mint = |c: &TokenClaims| mint_token(pk, kid, c).expect("mint");
    let json = |c: &TokenClaims| serde_json::to_value(c).expect("claims");
    let shifted = |secs: i64| {
        let at = if secs >= 0 {
            now + Duration::from_secs(secs.unsigned_abs())
        } else {
            now - Duration::from_secs(secs.unsigned_abs())
        };
        ca.claims(operation, subject, at)
    };
    match kind {
        "none" | "none_lower" | "unicode_alg" => {
            let alg = match kind {
                "none" => "none",
                "none_lower" => "nOnE",
                _ => "ES256\u{0}",
            };
            let h = serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"});
            format!("{}.{}.", b64(h.to_string()), b64(json(&claims).to_string()))
        }
        "hs256_pubkey" => {
            let h = serde_json::json!({"alg": "HS256", "kid": kid, "typ": "JWT"});
            let input = format!("{}.{}", b64(h.to_string()), b64(json(&claims).to_string()));
            let secret = pk.public_key().to_pem().expect("public PEM");
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac");
            mac.update(input.as_bytes());
            format!("{input}.{}", b64(mac.finalize().into_bytes()))
        }
        "expired" => mint(&shifted(-600)),
        "expired_61s" => mint(&shifted(-366)),
        "future_2m" => mint(&shifted(120)),
        "nbf_future_2m" => {
            claims.nbf = claims.nbf.map(|t| t + 120);
            mint(&claims)
        }
        "iat_future_2m" => {
            claims.iat = claims.iat.map(|t| t + 120);
            mint(&claims)
        }
        "lifetime_1h" => mint(&claims.with_lifetime(Duration::from_secs(3600))),
        "wrong_aud" => {
            claims.aud = Some(mayfly_jwt::Audience::One(
                "https://evil.example/1.0/sign".into(),
            ));
            mint(&claims)
        }
        "aud_other_route" | "revoke_token_for_sign" | "sign_token_for_revoke" => {
            let other = if operation == Operation::Sign {
                Operation::Revoke
            } else {
                Operation::Sign
            };
            let mut c = ca.claims(other, subject, now);
            if other == Operation::Revoke {
                c.sans = None;
            }
            mint(&c)
        }
        "aud_empty" => {
            claims.aud = Some(mayfly_jwt::Audience::One(String::new()));
            mint(&claims)
        }
        "wrong_iss" => {
            claims.iss = Some("nobody".into());
            mint(&claims)
        }
        "unknown_kid" => mint_token(pk, &"A".repeat(43), &claims).expect("mint"),
        "no_kid" => signed(
            pk,
            &serde_json::json!({"alg": alg, "typ": "JWT"}),
            &json(&claims),
        ),
        "bad_signature" => {
            let t = mint(&claims);
            let (rest, sig) = t.rsplit_once('.').unwrap_or_default();
            let mut raw = B64.decode(sig).unwrap_or_default();
            if let Some(b) = raw.get_mut(5) {
                *b ^= 1;
            }
            format!("{rest}.{}", b64(raw))
        }
        "signature_stripped" => {
            let t = mint(&claims);
            format!("{}.", t.rsplit_once('.').unwrap_or_default().0)
        }
        "other_key" => {
            let other = PrivateKey::generate(KeyType::EcP256).expect("key");
            mint_token(&other, kid, &claims).expect("mint")
        }
        "missing_jti" => {
            claims.jti = None;
            mint(&claims)
        }
        "missing_exp" => {
            claims.exp = None;
            mint(&claims)
        }
        "missing_sub" => {
            claims.sub = None;
            mint(&claims)
        }
        "sans_mismatch" => mint(&claims.with_sans(vec!["evil.example".into()])),
        "two_parts" => mint(&claims)
            .rsplit_once('.')
            .unwrap_or_default()
            .0
            .to_owned(),
        "four_parts" => format!("{}.AAAA", mint(&claims)),
        "empty_parts" => "..".into(),
        "not_base64" => "!!!.###.$$$".into(),
        "header_not_json" => format!("{}.{}.AAAA", b64("not json"), b64("{}")),
        "claims_not_json" => format!("{}.{}.AAAA", b64(header.to_string()), b64("[1,2")),
        "huge" => mint(&claims.with_sans(vec!["a".repeat(200_000)])),
        "alg_rs256_on_ec" | "alg_es384_on_p256" => {
            let alg = if kind == "alg_rs256_on_ec" {
                "RS256"
            } else {
                "ES384"
            };
            signed(
                pk,
                &serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT"}),
                &json(&claims),
            )
        }
        "crit_header" => signed(
            pk,
            &serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT", "crit": ["x-unknown"], "x-unknown": 1}),
            &json(&claims),
        ),
        "exp_string" => {
            let mut c = json(&claims);
            c["exp"] = serde_json::json!(c["exp"].to_string());
            signed(pk, &header, &c)
        }
        "jti_short" => {
            claims.jti = Some("a".into());
            mint(&claims)
        }
        "replayed" => spent.to_owned(),
        "sig_der_encoded" => {
            let t = mint(&claims);
            let (rest, sig) = t.rsplit_once('.').unwrap_or_default();
            let raw = B64.decode(sig).unwrap_or_default();
            format!("{rest}.{}", b64(der_signature(&raw)))
        }
        "nested_jws" => {
            let inner = mint(&claims);
            let h = serde_json::json!({"alg": alg, "kid": kid, "typ": "JWT", "cty": "JWT"});
            let input = format!("{}.{}", b64(h.to_string()), b64(inner));
            let sig = pk.sign_jws(input.as_bytes()).expect("sign");
            format!("{input}.{}", b64(sig))
        }
        other => panic!("unknown token kind {other:?}"),
    }
}
