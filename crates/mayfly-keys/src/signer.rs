//! The `Signer` and `Verifier` traits every Mayfly crate signs and verifies through.

use crate::{KeyError, PublicKey, SignatureAlgorithm};

/// Something that signs with one private key: a software key, a PKCS#11 object, ...
///
/// Object-safe so certificate, CRL, OCSP and token builders take `&dyn Signer`. Signatures come
/// back encoded as X.509 carries them (a DER `ECDSA-Sig-Value` for ECDSA); [`Signer::sign_jws`]
/// gives the fixed-size JOSE form.
pub trait Signer: Send + Sync {
    /// The signature algorithm this signer produces.
    fn algorithm(&self) -> SignatureAlgorithm;

    /// The public half of the key.
    fn public_key(&self) -> &PublicKey;

    /// Signs `message` (the hash is part of the algorithm) and returns the X.509 encoding.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError>;

    /// Signs `message` and returns the JWS encoding (ECDSA as fixed-size `r || s`).
    fn sign_jws(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let signature = self.sign(message)?;
        crate::encoding::x509_signature_to_jws(self.algorithm(), &signature)
    }
}

/// Something that checks signatures made by one key.
pub trait Verifier {
    /// Verifies an X.509-encoded `signature` over `message` made with `algorithm`.
    fn verify(
        &self,
        algorithm: SignatureAlgorithm,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), KeyError>;
}
