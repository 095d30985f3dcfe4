//! `mayfly-root sign-csr`: the root signs an intermediate's CSR, after showing what it will
//! sign, and records the certificate in index.txt.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mayfly_crl::{CertInfo, Index, IndexEntry};
use mayfly_keys::Signer;
use mayfly_template::{
    Certificate, CertificateProfile, CertificateRequest, DEFAULT_INTERMEDIATE_TEMPLATE, Issuer,
    TemplateData, ValidityPeriod, build_certificate, certificate_to_der, certificate_to_pem,
    subject_value,
};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;

use crate::util;

/// Flags of `mayfly-root sign-csr`.
#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The CSR to sign (PEM or DER).
    #[arg(value_name = "CSR")]
    csr: PathBuf,
    /// Template (default: the intermediate template, pathlen 0, certSign + cRLSign).
    #[arg(long, value_name = "FILE")]
    template: Option<PathBuf>,
    /// Template data `KEY=VALUE` (JSON values allowed). `crl=URL` also fills the built-in
    /// template's CRL distribution point.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The root certificate.
    #[arg(long, value_name = "CRT")]
    ca: PathBuf,
    /// The root key: a PEM file or a `pkcs11:` URI.
    #[arg(long, value_name = "KEY")]
    ca_key: String,
    /// File holding the root key's password (or the token PIN).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Lifetime (e.g. 87600h) or an RFC 3339 end time; capped at the root's own notAfter.
    #[arg(long, default_value = "87600h")]
    not_after: String,
    /// The OpenSSL CA database the certificate is recorded in.
    #[arg(long, value_name = "FILE", default_value = "index.txt")]
    index: PathBuf,
    /// Where to write the certificate (PEM).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Sign without asking for confirmation.
    #[arg(long)]
    yes: bool,
}

/// A CSR checked and rendered into the profile that will be signed.
pub struct Prepared {
    /// The verified request.
    pub request: CertificateRequest,
    /// The rendered profile.
    pub profile: CertificateProfile,
    /// The rendered template, pretty JSON.
    pub rendered: String,
    /// The validity window.
    pub validity: ValidityPeriod,
    /// Whether notAfter was cut back to the root's notAfter.
    pub capped: bool,
}

/// Verifies the CSR, renders the template and checks the result against the root.
pub fn prepare(
    csr: &[u8],
    template: Option<&Path>,
    set: &[(String, Value)],
    not_after: &str,
    root: &Certificate,
) -> anyhow::Result<Prepared> {
    let request = match std::str::from_utf8(csr) {
        Ok(text) if text.contains("-----BEGIN") => CertificateRequest::from_pem(text),
        _ => CertificateRequest::from_der(csr),
    }
    .context("reading the CSR")?;
    let mut data = TemplateData::new("", request.sans())
        .with_request(&request)?
        .set("Subject", subject_value(request.subject()));
    for (key, value) in set {
        if key == "crl" {
            data = data.set("CRLDistributionPoints", Value::Array(vec![value.clone()]));
        }
        data = data.set(key, value.clone());
    }
    let (profile, rendered) =
        util::render_profile(template, DEFAULT_INTERMEDIATE_TEMPLATE, &data.to_value())?;
    if !profile.is_ca() {
        bail!("the template does not make a CA certificate: the offline root signs only CAs");
    }
    let mut validity = util::validity(not_after)?;
    let root_end =
        time::OffsetDateTime::from(root.tbs_certificate().validity().not_after.to_system_time());
    let capped = validity.not_after > root_end;
    if capped {
        // An intermediate never outlives its root.
        validity.not_after = root_end;
    }
    if validity.not_after <= validity.not_before {
        bail!("the root expires before the intermediate would start");
    }
    Ok(Prepared {
        request,
        profile,
        rendered,
        validity,
        capped,
    })
}

impl Prepared {
    /// What will be signed, for the operator to read.
    pub fn describe(&self, root: &Certificate) -> anyhow::Result<String> {
        let key = self.request.public_key();
        Ok(format!(
            "About to sign:\n  CSR subject: {}\n  Issuer:      {}\n  Public key:  {} (SHA-256 {})\n  \
             Not before:  {}\n  Not after:   {}{}\n  Profile:\n{}\n",
            self.request.subject(),
            root.tbs_certificate().subject(),
            key.key_type(),
            key.fingerprint_sha256()?,
            self.validity.not_before.format(&Rfc3339)?,
            self.validity.not_after.format(&Rfc3339)?,
            if self.capped {
                " (capped at the root's notAfter)"
            } else {
                ""
            },
            self.rendered,
        ))
    }

    /// Signs the certificate with the root.
    pub fn sign(&self, root: &Certificate, signer: &dyn Signer) -> anyhow::Result<Certificate> {
        Ok(build_certificate(
            &self.profile,
            self.request.public_key(),
            Issuer::Ca(root, signer),
            self.validity,
        )?)
    }
}

/// Parses `--set KEY=VALUE` pairs (a value that is not JSON is a string).
pub fn parse_set(pairs: &[String]) -> anyhow::Result<Vec<(String, Value)>> {
    pairs
        .iter()
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
            let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
            Ok((key.to_owned(), value))
        })
        .collect()
}

/// Reads a certificate file (PEM or DER).
pub fn read_certificate(path: &Path) -> anyhow::Result<Certificate> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => mayfly_template::parse_certificate_pem(text),
        _ => mayfly_template::parse_certificate_der(&bytes),
    }
    .with_context(|| format!("parsing {}", path.display()))
}

/// Records `cert` in index.txt (created when missing), then writes it to `out`.
pub fn record_and_write(cert: &Certificate, index_path: &Path, out: &Path) -> anyhow::Result<()> {
    let mut index = if index_path.exists() {
        Index::load(index_path)?
    } else {
        Index::default()
    };
    let info = CertInfo::parse(&certificate_to_der(cert)?)?;
    index.add(IndexEntry::for_certificate(&info))?;
    index.save(index_path)?;
    mayfly_keys::write_public_file(out, certificate_to_pem(cert)?.as_bytes(), false)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

/// Runs `mayfly-root sign-csr`.
pub fn run(args: &SignArgs) -> anyhow::Result<()> {
    util::refuse_existing(&args.out)?;
    let csr =
        std::fs::read(&args.csr).with_context(|| format!("reading {}", args.csr.display()))?;
    let root = read_certificate(&args.ca)?;
    let prepared = prepare(
        &csr,
        args.template.as_deref(),
        &parse_set(&args.set)?,
        &args.not_after,
        &root,
    )?;
    eprint!("{}", prepared.describe(&root)?);
    if !args.yes && !confirm()? {
        bail!("not signed: the operator did not confirm");
    }
    let signer = crate::key::load_signer(&args.ca_key, args.password_file.as_deref())?;
    let cert = prepared.sign(&root, signer.as_ref())?;
    record_and_write(&cert, &args.index, &args.out)?;
    let summary = util::certificate_summary(&cert)?;
    eprintln!(
        "Signed serial {} -> {} (SHA-256 fingerprint {})",
        summary["serialNumber"].as_str().unwrap_or_default(),
        args.out.display(),
        summary["fingerprintSha256"].as_str().unwrap_or_default()
    );
    Ok(())
}

fn confirm() -> anyhow::Result<bool> {
    eprint!("Sign this certificate? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the confirmation")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
