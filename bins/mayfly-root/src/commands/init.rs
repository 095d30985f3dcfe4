//! `mayfly-root init`: a new root key (encrypted on disk, or generated inside an HSM) and its
//! self-signed certificate.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mayfly_keys::{Cipher, KeyType, Password, Pkcs11Location, Pkcs11Signer, PrivateKey, Signer};
use mayfly_template::{
    Certificate, DEFAULT_ROOT_TEMPLATE, Issuer, TemplateData, build_certificate, certificate_to_pem,
};

use crate::util;

/// Flags of `mayfly-root init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The root's common name.
    #[arg(long)]
    name: String,
    /// Key type: P-256, P-384, Ed25519, RSA-2048, RSA-3072 or RSA-4096.
    #[arg(long, default_value = "P-256")]
    kty: KeyType,
    /// Lifetime (e.g. 87600h) or an RFC 3339 end time.
    #[arg(long, default_value = "87600h")]
    not_after: String,
    /// Template for the root (default: step's root template, pathlen 1, certSign + cRLSign).
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Where to write the new key, encrypted (PKCS#8 PBES2, AES-256-CBC).
    #[arg(long, value_name = "FILE", required_unless_present = "kms")]
    key_out: Option<PathBuf>,
    /// File holding the password that encrypts the key (asked twice on the terminal if absent).
    #[arg(long, value_name = "FILE", conflicts_with = "kms")]
    password_file: Option<PathBuf>,
    /// Generate the key inside a PKCS#11 token instead: `pkcs11:token=..;object=..?module-path=..&pin-source=file:..`.
    #[arg(long, value_name = "URI", conflicts_with = "key_out")]
    kms: Option<String>,
    /// Where to write the root certificate (PEM).
    #[arg(long, value_name = "FILE", default_value = "root_ca.crt")]
    out: PathBuf,
}

/// Where the new root key goes.
pub enum NewKey {
    /// A PEM file encrypted with the password.
    File(PathBuf, Password),
    /// Generated inside the PKCS#11 token this URI names; never extractable.
    Kms(String),
}

/// Everything a root needs.
pub struct RootSpec<'a> {
    /// The common name.
    pub name: &'a str,
    /// The key type.
    pub key_type: KeyType,
    /// Lifetime or end time (see [`util::validity`]).
    pub not_after: &'a str,
    /// A template file; `None` is the built-in root template.
    pub template: Option<&'a Path>,
    /// Where the key goes.
    pub key: NewKey,
    /// Where the certificate goes.
    pub out: &'a Path,
}

/// Runs `mayfly-root init`.
pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    let key = match (&args.kms, &args.key_out) {
        (Some(uri), _) => NewKey::Kms(uri.clone()),
        (None, Some(path)) => NewKey::File(
            path.clone(),
            util::new_password(args.password_file.as_deref(), "the root key")?,
        ),
        (None, None) => bail!("give --key-out FILE or --kms pkcs11:URI"),
    };
    let cert = create_root(RootSpec {
        name: &args.name,
        key_type: args.kty,
        not_after: &args.not_after,
        template: args.template.as_deref(),
        key,
        out: &args.out,
    })?;
    let summary = util::certificate_summary(&cert)?;
    eprintln!(
        "Root certificate: {}\nRoot fingerprint: {}",
        args.out.display(),
        summary["fingerprintSha256"].as_str().unwrap_or_default()
    );
    Ok(())
}

/// Creates the root key and certificate, refusing to overwrite either.
pub fn create_root(spec: RootSpec<'_>) -> anyhow::Result<Certificate> {
    util::refuse_existing(spec.out)?;
    if let NewKey::File(path, _) = &spec.key {
        util::refuse_existing(path)?;
    }
    let validity = util::validity(spec.not_after)?;
    let (signer, key_file): (Box<dyn Signer>, _) = match &spec.key {
        NewKey::File(path, password) => {
            let key = PrivateKey::generate(spec.key_type)?;
            let pem = mayfly_keys::write_private_key_pem(&key, Some(password), Cipher::Aes256Cbc)?;
            (Box::new(key), Some((path, pem)))
        }
        NewKey::Kms(uri) => {
            let location = Pkcs11Location::from_uri(uri)?;
            let signer = Pkcs11Signer::generate(&location, None, spec.key_type)
                .with_context(|| format!("generating the root key in {uri}"))?;
            (Box::new(signer), None)
        }
    };
    let data = TemplateData::new(spec.name, &[])
        .with_public_key(signer.public_key())
        .to_value();
    let (profile, _) = util::render_profile(spec.template, DEFAULT_ROOT_TEMPLATE, &data)?;
    if !profile.is_ca() {
        bail!("the root template does not make a CA certificate (basicConstraints isCA)");
    }
    let cert = build_certificate(
        &profile,
        signer.public_key(),
        Issuer::SelfSigned(signer.as_ref()),
        validity,
    )?;
    if let Some((path, pem)) = key_file {
        mayfly_keys::write_secret_file(path, pem.as_bytes(), false)
            .with_context(|| format!("writing the root key {}", path.display()))?;
    }
    mayfly_keys::write_public_file(spec.out, certificate_to_pem(&cert)?.as_bytes(), false)
        .with_context(|| format!("writing {}", spec.out.display()))?;
    Ok(cert)
}
