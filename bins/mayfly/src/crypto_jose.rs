//! `mayfly crypto jwk create`, `crypto jwe decrypt`, `crypto jwt inspect|verify`, shaped like
//! the step CLI commands of the same names.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use mayfly_jwt::{CaAddresses, Jwk, Operation, ProvisionerKey, Provisioners, TokenValidator};
use mayfly_keys::{Password, PrivateKey, PublicKey};
use serde_json::{Value, json};

/// `mayfly crypto jwk ...`.
#[derive(Subcommand)]
pub enum JwkCommand {
    /// Create a JWK pair: the public JWK in PUB, the private JWK in PRIV encrypted as a JWE
    /// (PBES2-HS256+A128KW, A256GCM, 600,000 iterations).
    Create(JwkCreateArgs),
}

/// Flags of `mayfly crypto jwk create`.
#[derive(Args)]
pub struct JwkCreateArgs {
    /// Where to write the public JWK.
    pub public: PathBuf,
    /// Where to write the private JWK (a JWE in JSON serialization, mode 0600).
    pub private: PathBuf,
    /// The new key's type.
    #[command(flatten)]
    pub key_type: crate::flags::KeyTypeArgs,
    /// File holding the password that encrypts the private JWK (asked for when missing).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Leave the private JWK unencrypted (requires --insecure).
    #[arg(long, requires = "insecure", conflicts_with = "password_file")]
    pub no_password: bool,
    /// Confirm an insecure choice such as --no-password.
    #[arg(long)]
    pub insecure: bool,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// `mayfly crypto jwe ...`.
#[derive(Subcommand)]
pub enum JweCommand {
    /// Decrypt a password-encrypted JWE (compact or JSON) read from standard input.
    Decrypt(JweDecryptArgs),
}

/// Flags of `mayfly crypto jwe decrypt`.
#[derive(Args)]
pub struct JweDecryptArgs {
    /// File holding the password (asked for when missing).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `mayfly crypto jwt ...`.
#[derive(Subcommand)]
pub enum JwtCommand {
    /// Print the header and claims of a token read from standard input, without verifying it.
    Inspect(JwtInspectArgs),
    /// Verify a one-time token read from standard input as the CA would (signature, alg,
    /// times, lifetime, audience, subject) and print it.
    Verify(JwtVerifyArgs),
}

/// Flags of `mayfly crypto jwt inspect`.
#[derive(Args)]
pub struct JwtInspectArgs {
    /// Acknowledge that nothing is verified.
    #[arg(long)]
    pub insecure: bool,
}

/// Flags of `mayfly crypto jwt verify`.
#[derive(Args)]
pub struct JwtVerifyArgs {
    /// The provisioner's public key: a JWK or a PEM public key.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The expected issuer (provisioner name).
    #[arg(long)]
    pub iss: String,
    /// The expected audience, `https://HOST[:PORT]/1.0/sign` (or `/revoke`, `/renew`).
    #[arg(long)]
    pub aud: String,
}

/// Runs `mayfly crypto jwk ...`.
pub fn jwk(command: JwkCommand) -> anyhow::Result<()> {
    let JwkCommand::Create(args) = command;
    if args.insecure && !args.no_password {
        bail!("--insecure only goes with --no-password");
    }
    let key_type = args.key_type.key_type()?;
    for path in [&args.public, &args.private] {
        if !args.force && path.symlink_metadata().is_ok() {
            return Err(mayfly_keys::KeyError::AlreadyExists(path.clone()).into());
        }
    }
    let password = match (&args.password_file, args.no_password) {
        (_, true) => None,
        (Some(file), false) => Some(Password::from_file(file)?),
        (None, false) => Some(prompt_new()?),
    };
    let key = PrivateKey::generate(key_type)?;
    let private = Jwk::from_private_key(&key)?;
    match &password {
        Some(password) => {
            let compact = mayfly_jwt::encrypt_jwk(&private, password)?;
            let json = mayfly_jwt::compact_to_json(&compact)?;
            mayfly_keys::write_secret_file(&args.private, json.as_bytes(), args.force)?;
        }
        None => {
            let json = private.to_json_pretty()?;
            mayfly_keys::write_secret_file(&args.private, json.as_bytes(), args.force)?;
        }
    }
    let public = private.to_public().to_json_pretty()?;
    mayfly_keys::write_public_file(&args.public, public.as_bytes(), args.force)?;
    eprintln!(
        "Your public key has been saved in {}.",
        args.public.display()
    );
    eprintln!(
        "Your private key has been saved in {}.",
        args.private.display()
    );
    Ok(())
}

/// Runs `mayfly crypto jwe ...`.
pub fn jwe(command: JweCommand) -> anyhow::Result<()> {
    let JweCommand::Decrypt(args) = command;
    let input = read_stdin()?;
    let password = match &args.password_file {
        Some(file) => Password::from_file(file)?,
        None => Password::prompt("Please enter the password to decrypt the content: ")?,
    };
    let plaintext = mayfly_jwt::decrypt_pbes2(&input, &password)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&plaintext)?;
    out.flush()?;
    Ok(())
}

/// Runs `mayfly crypto jwt ...`.
pub fn jwt(command: JwtCommand) -> anyhow::Result<()> {
    let token = read_stdin()?;
    let token = token.trim();
    match command {
        JwtCommand::Inspect(args) => {
            if !args.insecure {
                bail!("jwt inspect verifies nothing: confirm with --insecure");
            }
        }
        JwtCommand::Verify(args) => verify(token, &args)?,
    }
    println!("{}", serde_json::to_string_pretty(&inspect(token)?)?);
    Ok(())
}

fn verify(token: &str, args: &JwtVerifyArgs) -> anyhow::Result<()> {
    let text =
        std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let jwk = if text.trim_ascii_start().starts_with(b"{") {
        Jwk::from_json(&text)?
    } else {
        let pem = std::str::from_utf8(&text).context("the key file is neither JWK nor PEM")?;
        Jwk::from_public_key(&PublicKey::from_pem(pem)?)?
    };
    let kid = match &jwk.kid {
        Some(kid) => kid.clone(),
        None => jwk.thumbprint()?,
    };
    let (operation, host) = parse_audience(&args.aud)?;
    let mut provisioners = Provisioners::new();
    provisioners.insert(&args.iss, &kid, ProvisionerKey::from_jwk(&jwk.to_public())?);
    let ctx = mayfly_jwt::ValidationContext::new(operation, CaAddresses::new([host]));
    TokenValidator::new(&provisioners).validate(token, &ctx)?;
    Ok(())
}

/// Splits `https://HOST[:PORT]/1.0/OPERATION` into the operation and `HOST[:PORT]`.
fn parse_audience(aud: &str) -> anyhow::Result<(Operation, &str)> {
    let (host, path) = aud
        .strip_prefix("https://")
        .and_then(|rest| rest.split_once('/'))
        .with_context(|| format!("--aud {aud:?} is not https://HOST[:PORT]/1.0/..."))?;
    let operation = [Operation::Sign, Operation::Revoke, Operation::Renew]
        .into_iter()
        .find(|op| op.path() == format!("/{path}"))
        .with_context(|| {
            format!("--aud {aud:?} must end in /1.0/sign, /1.0/revoke or /1.0/renew")
        })?;
    Ok((operation, host))
}

/// The header and claims of a token and its signature, as `step crypto jwt inspect` prints
/// them.
fn inspect(token: &str) -> anyhow::Result<Value> {
    let (header, payload) = mayfly_jwt::decode_unverified(token)?;
    let signature = token.rsplit('.').next().unwrap_or_default();
    Ok(json!({"header": header, "payload": payload, "signature": signature}))
}

fn read_stdin() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(1 << 20)
        .read_to_string(&mut input)
        .context("reading standard input")?;
    Ok(input)
}

/// Asks for a new password twice on the terminal.
fn prompt_new() -> anyhow::Result<Password> {
    let first = Password::prompt("Please enter the password to encrypt the private JWK: ")?;
    let second = Password::prompt("Please confirm the password: ")?;
    if !first.matches(&second) {
        bail!("the passwords do not match");
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audiences_split_into_operation_and_host() {
        let parsed = parse_audience("https://ca.example.com:9000/1.0/revoke").ok();
        assert_eq!(parsed, Some((Operation::Revoke, "ca.example.com:9000")));
        assert!(parse_audience("https://ca.example.com/1.0/other").is_err());
        assert!(parse_audience("http://ca.example.com/1.0/sign").is_err());
    }
}
