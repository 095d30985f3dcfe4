//! One entry point for "the CA's signing key", wherever it lives.

use std::path::Path;

use crate::{KeyError, Password, Pkcs11Location, Pkcs11Signer, Signer};

/// Opens a signer from a location string: a `pkcs11:` URI (a key inside an HSM, see
/// [`Pkcs11Location::from_uri`]) or a PEM key file path, decrypted with `password`.
pub fn load_signer(
    location: &str,
    password: Option<&Password>,
) -> Result<Box<dyn Signer>, KeyError> {
    if location.starts_with("pkcs11:") {
        let location = Pkcs11Location::from_uri(location)?;
        Ok(Box::new(Pkcs11Signer::open(&location, password)?))
    } else {
        Ok(Box::new(crate::read_private_key_file(
            Path::new(location),
            password,
        )?))
    }
}
