//! `mayfly-root change-pass`: re-encrypt a key file under a new password (step's
//! `step crypto change-pass`).

use std::path::PathBuf;

use anyhow::Context as _;
use mayfly_keys::{Cipher, Password};

use crate::util;

/// Flags of `mayfly-root change-pass`.
#[derive(Debug, clap::Args)]
pub struct ChangePassArgs {
    /// The PEM key file (any format Mayfly reads; written back as PKCS#8 PBES2).
    #[arg(value_name = "KEY")]
    key: PathBuf,
    /// File holding the current password (asked on the terminal if absent and needed).
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// File holding the new password (asked twice on the terminal if absent).
    #[arg(long, value_name = "FILE")]
    new_password_file: Option<PathBuf>,
    /// Write the re-encrypted key here instead of replacing KEY in place.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace KEY in place (required without `--out`: key files are never overwritten
    /// silently).
    #[arg(long)]
    force: bool,
    /// Re-encrypt with AES-256-CBC (default: keep the file's AES cipher).
    #[arg(long)]
    aes256: bool,
}

/// Runs `mayfly-root change-pass`.
pub fn run(args: &ChangePassArgs) -> anyhow::Result<()> {
    if args.out.is_none() && !args.force {
        anyhow::bail!(
            "refusing to rewrite {} in place without --force (or write the result elsewhere \
             with --out FILE)",
            args.key.display()
        );
    }
    let pem = zeroize::Zeroizing::new(
        std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?,
    );
    let old = match &args.password_file {
        Some(file) => Some(util::read_password(file)?),
        None if mayfly_keys::encryption_cipher(&pem)?.is_some() => {
            Some(Password::prompt(&format!(
                "Please enter the password to decrypt {}: ",
                args.key.display()
            ))?)
        }
        None => None,
    };
    let new = util::new_password(args.new_password_file.as_deref(), "the key")?;
    let cipher = args.aes256.then_some(Cipher::Aes256Cbc);
    let changed = mayfly_keys::change_password(&pem, old.as_ref(), &new, cipher)
        .with_context(|| format!("decrypting {}", args.key.display()))?;
    let (target, overwrite) = match &args.out {
        Some(out) => (out, false),
        None => (&args.key, true),
    };
    mayfly_keys::write_secret_file(target, changed.as_bytes(), overwrite)
        .with_context(|| format!("writing {}", target.display()))?;
    eprintln!("Your key has been saved in {}.", target.display());
    Ok(())
}
