//! `mayfly certificate create` and `mayfly certificate inspect`, shaped like
//! `step certificate create` and `step certificate inspect`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use mayfly_keys::{Cipher, Password, PrivateKey, Signer};
use mayfly_template::{
    CA_LIFETIME, CertificateProfile, DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_LEAF_TEMPLATE,
    DEFAULT_ROOT_TEMPLATE, Issuer, LEAF_LIFETIME, San, Template, TemplateData, ValidityPeriod,
};
use serde_json::Value;

/// `mayfly certificate ...` subcommands.
#[derive(Subcommand)]
pub enum CertificateCommand {
    /// Create a key and a certificate: a root CA, an intermediate CA or a leaf.
    Create(Box<CreateArgs>),
    /// Print a certificate's contents (text or JSON).
    Inspect(InspectArgs),
}

/// Runs a `mayfly certificate` subcommand.
pub fn run(command: CertificateCommand) -> anyhow::Result<()> {
    match command {
        CertificateCommand::Create(args) => create(*args),
        CertificateCommand::Inspect(args) => inspect(args),
    }
}

/// Which kind of certificate `create` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Profile {
    /// A self-signed root CA (10 years, pathlen 1).
    RootCa,
    /// An intermediate CA signed by --ca (10 years, pathlen 0).
    IntermediateCa,
    /// A leaf (24 hours, serverAuth + clientAuth), signed by --ca or self-signed.
    Leaf,
}

/// Flags of `mayfly certificate create`.
#[derive(Args)]
pub struct CreateArgs {
    /// The subject common name.
    pub subject: String,
    /// Where to write the certificate (PEM).
    pub crt: PathBuf,
    /// Where to write the new private key (PEM, encrypted unless --no-password --insecure).
    pub key: PathBuf,
    /// The kind of certificate.
    #[arg(long, value_enum, default_value = "leaf")]
    pub profile: Profile,
    /// A template file (Go text/template rendering the JSON profile) instead of the default.
    #[arg(long, value_name = "FILE")]
    pub template: Option<PathBuf>,
    /// Template data `key=value` (value parsed as JSON when it is JSON, else a string).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The issuing CA certificate.
    #[arg(long, value_name = "CRT", requires = "ca_key")]
    pub ca: Option<PathBuf>,
    /// The issuing CA key: a PEM file or a `pkcs11:` URI.
    #[arg(long, value_name = "KEY", requires = "ca")]
    pub ca_key: Option<String>,
    /// File holding the CA key's password (asked for when the key is encrypted).
    #[arg(long, value_name = "FILE")]
    pub ca_password_file: Option<PathBuf>,
    /// A subject alternative name (DNS name, IP, e-mail or URI); repeatable. A leaf with
    /// none gets the subject as its SAN.
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// The new key's type.
    #[command(flatten)]
    pub key_type: crate::flags::KeyTypeArgs,
    /// End of validity: a duration (`24h`, `90m`, `720h`, `30d`) or an RFC 3339 time.
    #[arg(long, value_name = "TIME|DURATION")]
    pub not_after: Option<String>,
    /// File holding the password that encrypts the new private key.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Leave the private key unencrypted (requires --insecure).
    #[arg(long, requires = "insecure", conflicts_with = "password_file")]
    pub no_password: bool,
    /// Confirm an insecure choice such as --no-password.
    #[arg(long)]
    pub insecure: bool,
    /// Also write the issuer's certificate after the new one in CRT.
    #[arg(long)]
    pub bundle: bool,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Output format of `inspect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Text,
    /// JSON.
    Json,
}

/// Flags of `mayfly certificate inspect`.
#[derive(Args)]
pub struct InspectArgs {
    /// The certificate file (PEM or DER).
    pub crt: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

/// Runs `mayfly certificate create`.
pub fn create(args: CreateArgs) -> anyhow::Result<()> {
    if args.insecure && !args.no_password {
        bail!("--insecure only goes with --no-password");
    }
    if args.profile == Profile::RootCa && args.ca.is_some() {
        bail!("a root CA is self-signed: drop --ca/--ca-key");
    }
    if args.profile == Profile::IntermediateCa && args.ca.is_none() {
        bail!("an intermediate CA needs its issuer: pass --ca and --ca-key");
    }
    for path in [&args.crt, &args.key] {
        if !args.force && path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists (use --force to overwrite)",
                path.display()
            );
        }
    }
    let key_type = args.key_type.key_type()?;
    let password = match (&args.password_file, args.no_password) {
        (_, true) => None,
        (Some(file), false) => Some(Password::from_file(file)?),
        (None, false) => Some(prompt_new()?),
    };
    let ca = load_ca(&args)?;

    let key = PrivateKey::generate(key_type)?;
    let mut names: Vec<San> = args.sans.iter().map(|s| San::guess(s)).collect();
    if names.is_empty() && args.profile == Profile::Leaf {
        names.push(San::guess(&args.subject));
    }
    let mut data = TemplateData::new(&args.subject, &names).with_public_key(key.public_key());
    for pair in &args.set {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("--set {pair:?}: expected KEY=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::from(v));
        data = data.set(k, value);
    }
    let (name, text) = match &args.template {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => (
            format!("default {:?} template", args.profile),
            match args.profile {
                Profile::RootCa => DEFAULT_ROOT_TEMPLATE,
                Profile::IntermediateCa => DEFAULT_INTERMEDIATE_TEMPLATE,
                Profile::Leaf => DEFAULT_LEAF_TEMPLATE,
            }
            .to_owned(),
        ),
    };
    let template = Template::parse(&name, &text)?;
    for warning in mayfly_template::lint(&template) {
        eprintln!("warning: {name}:{warning}");
    }
    let rendered = template.render_json(&data.to_value())?;
    let profile = CertificateProfile::from_value(rendered)?;
    let validity = validity(&profile, args.profile, args.not_after.as_deref())?;

    let cert = match &ca {
        Some((cert, signer)) => mayfly_template::build_certificate(
            &profile,
            key.public_key(),
            Issuer::Ca(cert, signer.as_ref()),
            validity,
        )?,
        None => mayfly_template::build_certificate(
            &profile,
            key.public_key(),
            Issuer::SelfSigned(&key),
            validity,
        )?,
    };
    let mut pem = mayfly_template::certificate_to_pem(&cert)?;
    if args.bundle
        && let Some((ca_cert, _)) = &ca
    {
        pem.push_str(&mayfly_template::certificate_to_pem(ca_cert)?);
    }
    let private = mayfly_keys::write_private_key_pem(&key, password.as_ref(), Cipher::default())?;
    mayfly_keys::write_secret_file(&args.key, private.as_bytes(), args.force)?;
    mayfly_keys::write_public_file(&args.crt, pem.as_bytes(), args.force)?;
    eprintln!("Your certificate has been saved in {}.", args.crt.display());
    eprintln!("Your private key has been saved in {}.", args.key.display());
    Ok(())
}

type Ca = (mayfly_template::Certificate, Box<dyn Signer>);

fn load_ca(args: &CreateArgs) -> anyhow::Result<Option<Ca>> {
    let (Some(crt), Some(location)) = (&args.ca, &args.ca_key) else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(crt).with_context(|| format!("reading {}", crt.display()))?;
    let cert = mayfly_template::parse_certificate_pem(&pem)
        .with_context(|| format!("reading {}", crt.display()))?;
    let password = match &args.ca_password_file {
        Some(file) => Some(Password::from_file(file)?),
        None if !location.starts_with("pkcs11:") => {
            let key_pem = std::fs::read(location).with_context(|| format!("reading {location}"))?;
            match mayfly_keys::encryption_cipher(&key_pem)? {
                Some(_) => Some(Password::prompt(&format!(
                    "Please enter the password to decrypt {location}: "
                ))?),
                None => None,
            }
        }
        None => None,
    };
    let signer = mayfly_keys::load_signer(location, password.as_ref())
        .with_context(|| format!("loading the CA key {location}"))?;
    Ok(Some((cert, signer)))
}

/// The validity window: `--not-after` (duration or time), else the profile kind's default.
fn validity(
    profile: &CertificateProfile,
    kind: Profile,
    not_after: Option<&str>,
) -> anyhow::Result<ValidityPeriod> {
    let default = if kind == Profile::Leaf {
        LEAF_LIFETIME
    } else {
        CA_LIFETIME
    };
    let Some(value) = not_after else {
        return Ok(ValidityPeriod::from_profile(profile, default)?);
    };
    if value.contains('T') {
        return Ok(ValidityPeriod::from_profile(profile, default)?.until(value)?);
    }
    Ok(ValidityPeriod::from_profile(
        profile,
        parse_duration(value)?,
    )?)
}

/// Parses `24h`, `90m`, `3600s`, `30d` or combinations such as `1h30m`.
fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    Ok(mayfly_template::GoDuration::parse(s)?.into())
}

fn prompt_new() -> anyhow::Result<Password> {
    let first = Password::prompt("Please enter the password to encrypt the private key: ")?;
    let second = Password::prompt("Please confirm the password: ")?;
    if !first.matches(&second) {
        bail!("the passwords do not match");
    }
    Ok(first)
}

/// Runs `mayfly certificate inspect`.
pub fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(&args.crt).with_context(|| format!("reading {}", args.crt.display()))?;
    let cert = match std::str::from_utf8(&bytes) {
        Ok(text) if text.contains("-----BEGIN") => {
            mayfly_template::parse_certificate_chain_pem(text)?
                .into_iter()
                .next()
                .context("no certificate in the file")?
        }
        _ => mayfly_template::parse_certificate_der(&bytes)?,
    };
    let info = mayfly_template::inspect(&cert)?;
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&info)?),
        Format::Text => print!("{}", text_report(&info)),
    }
    Ok(())
}

fn text_report(info: &Value) -> String {
    let s = |k: &str| info[k].as_str().unwrap_or_default().to_owned();
    let list = |k: &str| {
        info[k].as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
    };
    let mut out = format!(
        "Certificate:\n    Serial Number: {}\n    Signature Algorithm: {}\n    Issuer: {}\n    Validity\n        Not Before: {}\n        Not After : {}\n    Subject: {}\n    Subject Public Key: {}\n    Extensions:\n        Subject Key Identifier: {}\n",
        s("serialNumber"),
        s("signatureAlgorithm"),
        s("issuer"),
        s("notBefore"),
        s("notAfter"),
        s("subject"),
        s("publicKey"),
        s("subjectKeyId"),
    );
    if let Some(aki) = info["authorityKeyId"].as_str() {
        out.push_str(&format!("        Authority Key Identifier: {aki}\n"));
    }
    if let Some(bc) = info.get("basicConstraints") {
        out.push_str(&format!(
            "        Basic Constraints{}: CA:{}{}\n",
            if bc["critical"] == true {
                " (critical)"
            } else {
                ""
            },
            bc["isCA"]
                .as_bool()
                .unwrap_or(false)
                .to_string()
                .to_uppercase(),
            bc["maxPathLen"]
                .as_u64()
                .map(|n| format!(", pathlen:{n}"))
                .unwrap_or_default()
        ));
    }
    for (key, label) in [
        ("keyUsage", "Key Usage"),
        ("extKeyUsage", "Extended Key Usage"),
        ("subjectAltNames", "Subject Alternative Name"),
        ("crlDistributionPoints", "CRL Distribution Points"),
        ("otherExtensions", "Other extensions"),
    ] {
        if let Some(l) = list(key) {
            out.push_str(&format!("        {label}: {l}\n"));
        }
    }
    out.push_str(&format!(
        "Fingerprint (SHA-256): {}\n",
        s("fingerprintSha256")
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("24h").ok(),
            Some(std::time::Duration::from_secs(86_400))
        );
        assert_eq!(
            parse_duration("1h30m").ok(),
            Some(std::time::Duration::from_secs(5_400))
        );
        assert!(parse_duration("24").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("").is_err());
    }
}
