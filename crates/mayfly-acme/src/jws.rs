//! The inner JWS of a key rollover (RFC 8555 §7.3.5): flattened JSON signed by the new key,
//! with `jwk` and `url` but no `nonce` (which `mayfly_jwt::AcmeJws` requires).

use mayfly_jwt::Jwk;
use mayfly_keys::SignatureAlgorithm;
use serde_json::Value;

use crate::error::{AcmeError, ProblemKind};

/// Verifies the inner JWS and returns the new key, its `url` and its JSON payload.
pub(crate) fn verify_inner(jws: &Value) -> Result<(Jwk, String, Value), AcmeError> {
    let field = |name: &str| {
        jws.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| AcmeError::malformed(format!("inner JWS lacks {name}")))
    };
    let (protected_b64, payload_b64, signature_b64) =
        (field("protected")?, field("payload")?, field("signature")?);
    if jws.get("header").is_some() {
        return Err(AcmeError::malformed("inner JWS has an unprotected header"));
    }
    let decode = |text: &str, what: &str| {
        crate::unb64(text)
            .ok_or_else(|| AcmeError::malformed(format!("inner JWS {what} is not base64url")))
    };
    let header: Value = serde_json::from_slice(&decode(protected_b64, "header")?)
        .map_err(|e| AcmeError::malformed(format!("inner JWS header: {e}")))?;
    if header.get("nonce").is_some() || header.get("kid").is_some() {
        return Err(AcmeError::malformed(
            "inner JWS must carry jwk and no nonce or kid",
        ));
    }
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = SignatureAlgorithm::from_jws_name(alg_name).map_err(|_| {
        AcmeError::new(
            ProblemKind::BadSignatureAlgorithm,
            format!("inner JWS alg {alg_name:?}"),
        )
    })?;
    let jwk = header
        .get("jwk")
        .map(|k| Jwk::from_json(k.to_string().as_bytes()))
        .transpose()?
        .ok_or_else(|| AcmeError::malformed("inner JWS lacks jwk"))?;
    if jwk.is_private() {
        return Err(AcmeError::malformed("inner JWS jwk holds a private key"));
    }
    let key = jwk.to_public_key()?;
    if !alg.fits(key.key_type()) {
        return Err(AcmeError::new(
            ProblemKind::BadSignatureAlgorithm,
            format!("{alg_name} does not fit the new key"),
        ));
    }
    let signing_input = format!("{protected_b64}.{payload_b64}");
    key.verify_jws(
        alg,
        signing_input.as_bytes(),
        &decode(signature_b64, "signature")?,
    )
    .map_err(|_| AcmeError::unauthorized("the inner JWS signature does not verify"))?;
    let url = header
        .get("url")
        .and_then(Value::as_str)
        .ok_or_else(|| AcmeError::malformed("inner JWS lacks url"))?
        .to_owned();
    let payload = serde_json::from_slice(&decode(payload_b64, "payload")?)
        .map_err(|e| AcmeError::malformed(format!("inner JWS payload: {e}")))?;
    Ok((jwk, url, payload))
}
