//! Conversions between the X.509 (DER) and JOSE (fixed-size) signature encodings.

use crate::{KeyError, SignatureAlgorithm};

/// Converts an X.509 signature to its JWS form: ECDSA DER `SEQUENCE { r, s }` becomes the
/// fixed-size `r || s` of RFC 7518 §3.4; other algorithms are the same in both.
pub fn x509_signature_to_jws(
    algorithm: SignatureAlgorithm,
    signature: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let malformed = |e: ecdsa::Error| KeyError::Malformed(format!("ECDSA signature: {e}"));
    Ok(match algorithm {
        SignatureAlgorithm::EcdsaSha256 => p256::ecdsa::Signature::from_der(signature)
            .map_err(malformed)?
            .to_bytes()
            .to_vec(),
        SignatureAlgorithm::EcdsaSha384 => p384::ecdsa::Signature::from_der(signature)
            .map_err(malformed)?
            .to_bytes()
            .to_vec(),
        _ => signature.to_vec(),
    })
}

/// Converts a JWS signature to its X.509 form (the inverse of [`x509_signature_to_jws`]).
///
/// PKCS#11 tokens return ECDSA signatures as `r || s` too, so the HSM backend uses this.
pub fn jws_signature_to_x509(
    algorithm: SignatureAlgorithm,
    signature: &[u8],
) -> Result<Vec<u8>, KeyError> {
    let malformed = |e: ecdsa::Error| KeyError::Malformed(format!("ECDSA signature: {e}"));
    Ok(match algorithm {
        SignatureAlgorithm::EcdsaSha256 => p256::ecdsa::Signature::from_slice(signature)
            .map_err(malformed)?
            .to_der()
            .as_bytes()
            .to_vec(),
        SignatureAlgorithm::EcdsaSha384 => p384::ecdsa::Signature::from_slice(signature)
            .map_err(malformed)?
            .to_der()
            .as_bytes()
            .to_vec(),
        _ => signature.to_vec(),
    })
}
