//! Loading the CA's signing key.

use std::path::Path;

use anyhow::Context as _;
use mayfly_keys::{Password, Signer};

/// Opens the signer at `location` (a PEM key file, or a `pkcs11:` URI for a key in an HSM),
/// with the password in `password_file` when one is given.
pub fn load_signer(
    location: &str,
    password_file: Option<&Path>,
) -> anyhow::Result<Box<dyn Signer>> {
    let password = password_file
        .map(|f| {
            Password::from_file(f).with_context(|| format!("reading password file {}", f.display()))
        })
        .transpose()?;
    mayfly_keys::load_signer(location, password.as_ref())
        .with_context(|| format!("loading the CA key {location}"))
}
