//! The CA's own material: roots, the intermediate and the key it signs with.

use std::path::Path;

use mayfly_keys::{Password, Signer};
use mayfly_template::{Certificate, certificate_public_key, fingerprint_sha256};

use crate::AuthorityError;
use crate::config::CaConfig;

/// Roots, the issuing intermediate and its signer.
pub struct CaMaterial {
    /// The roots clients trust (the first is the one `defaults.json` pins).
    pub roots: Vec<Certificate>,
    /// Other roots accepted for client certificates.
    pub federated_roots: Vec<Certificate>,
    /// The intermediate that issues leaves.
    pub intermediate: Certificate,
    /// The intermediate's key (software or PKCS#11).
    pub signer: Box<dyn Signer>,
    /// The intermediate's subject key identifier, hex: the store's issuer id.
    pub issuer_id: String,
    /// What CRL and OCSP signing need to know about the intermediate.
    pub cert_info: mayfly_crl::CertInfo,
}

impl std::fmt::Debug for CaMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaMaterial")
            .field("issuer_id", &self.issuer_id)
            .finish_non_exhaustive()
    }
}

impl CaMaterial {
    /// Loads the certificates named by `config` and the intermediate key (decrypted with
    /// `password`, or through PKCS#11), and checks that the key matches the certificate and
    /// the intermediate chains to a root.
    pub fn load(config: &CaConfig, password: Option<&Password>) -> Result<Self, AuthorityError> {
        let roots = config
            .root
            .paths()
            .into_iter()
            .map(read_certificates)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let federated_roots = config
            .federated_roots
            .iter()
            .flatten()
            .map(|p| read_certificates(p))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let intermediate = read_certificates(&config.crt)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                AuthorityError::Config(format!("{}: no certificate", config.crt.display()))
            })?;
        let signer = mayfly_keys::load_signer(&config.key, password)
            .map_err(|e| AuthorityError::Config(format!("intermediate key {}: {e}", config.key)))?;
        Self::new(roots, federated_roots, intermediate, signer)
    }

    /// Assembles CA material from parts already in memory (embedding, tests).
    pub fn new(
        roots: Vec<Certificate>,
        federated_roots: Vec<Certificate>,
        intermediate: Certificate,
        signer: Box<dyn Signer>,
    ) -> Result<Self, AuthorityError> {
        if roots.is_empty() {
            return Err(AuthorityError::Config("no root certificate".into()));
        }
        let public = certificate_public_key(&intermediate)
            .map_err(|e| AuthorityError::Config(format!("intermediate certificate: {e}")))?;
        if &public != signer.public_key() {
            return Err(AuthorityError::Config(
                "the intermediate key does not match the intermediate certificate".into(),
            ));
        }
        let issued_by_a_root = roots
            .iter()
            .any(|root| crate::x509::verify_issued_by(&intermediate, root).is_ok());
        if !issued_by_a_root {
            return Err(AuthorityError::Config(
                "the intermediate certificate was not issued by any configured root".into(),
            ));
        }
        let issuer_id = mayfly_template::subject_key_identifier(&intermediate)
            .map(hex::encode)
            .map_err(|e| AuthorityError::Config(format!("intermediate certificate: {e}")))?;
        let cert_info = mayfly_crl::CertInfo::from_certificate(&intermediate)
            .map_err(|e| AuthorityError::Config(format!("intermediate certificate: {e}")))?;
        Ok(Self {
            roots,
            federated_roots,
            intermediate,
            signer,
            issuer_id,
            cert_info,
        })
    }

    /// SHA-256 fingerprint (hex) of the first root: what clients pin.
    pub fn root_fingerprint(&self) -> Result<String, AuthorityError> {
        fingerprint_sha256(&self.roots[0]).map_err(|e| AuthorityError::Internal(e.to_string()))
    }
}

fn read_certificates(path: &Path) -> Result<Vec<Certificate>, AuthorityError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AuthorityError::Config(format!("cannot read {}: {e}", path.display())))?;
    mayfly_template::parse_certificate_chain_pem(&text)
        .map_err(|e| AuthorityError::Config(format!("{}: {e}", path.display())))
}
