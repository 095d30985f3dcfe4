//! `mayfly ca token` and `mayfly ca certificate`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use mayfly_client::{
    Client, TokenRequest, Validity, check_token_times, is_encrypted_key, read_provisioner_key,
};
use mayfly_keys::{Cipher, PrivateKey};
use mayfly_template::San;

use super::{ConnArgs, password};

/// How to get a token: given, or minted with a provisioner.
#[derive(Args, Clone, Debug)]
pub struct ProvisionerArgs {
    /// The JWK provisioner to mint the token with (default: the only JWK provisioner).
    #[arg(long, value_name = "NAME")]
    pub provisioner: Option<String>,
    /// File holding the provisioner password (asked for when missing).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The provisioner's private JWK file (encrypted JWE or plain) instead of fetching the
    /// encrypted key from the CA.
    #[arg(long, value_name = "FILE")]
    pub provisioner_key: Option<PathBuf>,
}

impl ProvisionerArgs {
    /// Mints a token for `request`.
    pub async fn mint(&self, client: &Client, request: &TokenRequest) -> anyhow::Result<String> {
        let password = || {
            password(
                self.password_file.as_deref(),
                "Please enter the password to decrypt the provisioner key: ",
            )
        };
        match &self.provisioner_key {
            Some(path) => {
                let name = self
                    .provisioner
                    .as_deref()
                    .context("--provisioner-key needs --provisioner NAME")?;
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                let password = if is_encrypted_key(&text) {
                    Some(password()?)
                } else {
                    None
                };
                let key = read_provisioner_key(&text, password.as_ref())
                    .with_context(|| format!("reading the provisioner key {}", path.display()))?;
                Ok(client.mint_token(name, &key, request)?)
            }
            None => Ok(client
                .provisioner_token(self.provisioner.as_deref(), &password()?, request)
                .await?),
        }
    }
}

/// Flags of `mayfly ca token`.
#[derive(Args)]
pub struct TokenArgs {
    /// The subject: the certificate's common name, or the serial number with --revoke.
    pub subject: String,
    /// A name the certificate may carry (repeat; default: SUBJECT).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Mint a token for `mayfly ca revoke SUBJECT` instead of for signing.
    #[arg(long)]
    pub revoke: bool,
    #[command(flatten)]
    pub provisioner: ProvisionerArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Prints a one-time token.
pub async fn token(args: TokenArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let request = if args.revoke {
        TokenRequest::revoke(&args.subject)
    } else {
        TokenRequest::sign(&args.subject, args.sans)
    };
    println!("{}", args.provisioner.mint(&client, &request).await?);
    Ok(())
}

/// Flags of `mayfly ca certificate`.
#[derive(Args)]
pub struct CertificateArgs {
    /// The subject common name.
    pub subject: String,
    /// Where to write the certificate and its chain (PEM).
    pub crt: PathBuf,
    /// Where to write the new private key (PEM, mode 0600, not encrypted).
    pub key: PathBuf,
    /// A one-time token (from `mayfly ca token`); minted with the provisioner when missing.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// A name the certificate carries (repeat; default: SUBJECT).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// The new key's type.
    #[command(flatten)]
    pub key_type: crate::flags::KeyTypeArgs,
    /// When the certificate starts (RFC 3339 time or duration from now such as `5m`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub not_before: Option<String>,
    /// When it expires (RFC 3339 time or duration from now such as `8h`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub not_after: Option<String>,
    /// Overwrite CRT and KEY if they exist.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub provisioner: ProvisionerArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Generates a key, sends a CSR and writes the certificate and key.
pub async fn certificate(args: CertificateArgs) -> anyhow::Result<()> {
    for path in [&args.crt, &args.key] {
        if !args.force && path.exists() {
            anyhow::bail!("{} exists: pass --force to overwrite it", path.display());
        }
    }
    let client = args.conn.client()?;
    let sans = if args.sans.is_empty() {
        vec![args.subject.clone()]
    } else {
        args.sans.clone()
    };
    let token = match &args.token {
        Some(token) => {
            check_token_times(token, std::time::SystemTime::now())?;
            token.trim().to_owned()
        }
        None => {
            let request = TokenRequest::sign(&args.subject, sans.clone());
            args.provisioner.mint(&client, &request).await?
        }
    };
    let key_type = args.key_type.key_type()?;
    let key = PrivateKey::generate(key_type)?;
    let names: Vec<San> = sans.iter().map(|s| San::guess(s)).collect();
    let csr = mayfly_template::build_request(&args.subject, &names, &key)?;
    let validity = Validity {
        not_before: args.not_before.clone(),
        not_after: args.not_after.clone(),
    };
    let signed = client.sign(&csr, &token, &validity).await?;
    write_pair(&args.crt, &signed.to_pem()?, &args.key, &key, args.force)?;
    eprintln!(
        "Your certificate has been saved in {} (serial {}).",
        args.crt.display(),
        signed.serial_decimal()
    );
    eprintln!("Your private key has been saved in {}.", args.key.display());
    Ok(())
}

/// Writes the key (0600) and then the certificate (0644), each atomically.
fn write_pair(
    crt: &Path,
    crt_pem: &str,
    key_path: &Path,
    key: &PrivateKey,
    overwrite: bool,
) -> anyhow::Result<()> {
    let key_pem = mayfly_keys::write_private_key_pem(key, None, Cipher::default())?;
    mayfly_keys::write_secret_file(key_path, key_pem.as_bytes(), overwrite)
        .with_context(|| format!("writing {}", key_path.display()))?;
    mayfly_keys::write_public_file(crt, crt_pem.as_bytes(), overwrite)
        .with_context(|| format!("writing {}", crt.display()))?;
    Ok(())
}
