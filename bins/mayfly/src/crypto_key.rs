//! `mayfly crypto keypair` and `mayfly crypto change-pass`, shaped like `step crypto keypair`
//! and `step crypto change-pass`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use mayfly_keys::{Cipher, Password, Signer};

/// Flags of `mayfly crypto keypair`.
#[derive(Args)]
pub struct KeypairArgs {
    /// Where to write the public key (PEM).
    pub public: PathBuf,
    /// Where to write the private key (PEM, encrypted unless --no-password --insecure).
    pub private: PathBuf,
    /// The new key's type.
    #[command(flatten)]
    pub key_type: crate::flags::KeyTypeArgs,
    /// File holding the password that encrypts the private key (one trailing newline is
    /// ignored). Without it (and without --generate-password) the password is asked for.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Generate a strong random password: written (mode 0600) to --password-file when given,
    /// printed once on standard output otherwise.
    #[arg(long, conflicts_with = "no_password")]
    pub generate_password: bool,
    /// Leave the private key unencrypted (requires --insecure).
    #[arg(long, requires = "insecure", conflicts_with = "password_file")]
    pub no_password: bool,
    /// Confirm an insecure choice such as --no-password.
    #[arg(long)]
    pub insecure: bool,
    /// Cipher for the encrypted private key.
    #[arg(long, default_value = "aes128", value_parser = ["aes128", "aes192", "aes256"])]
    pub cipher: String,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

/// Flags of `mayfly crypto change-pass`.
#[derive(Args)]
pub struct ChangePassArgs {
    /// The encrypted private key file to rewrite.
    pub key: PathBuf,
    /// File holding the current password (asked for when missing).
    #[arg(long, value_name = "OLD")]
    pub password_file: Option<PathBuf>,
    /// File holding the new password (asked for when missing).
    #[arg(long, value_name = "NEW")]
    pub new_password_file: Option<PathBuf>,
    /// Cipher for the rewritten key; by default the key keeps its AES cipher.
    #[arg(long, value_parser = ["aes128", "aes192", "aes256"])]
    pub cipher: Option<String>,
    /// Write the result here instead of replacing KEY.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace KEY in place (without --out), or overwrite --out when it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `mayfly crypto keypair`.
pub fn keypair(args: KeypairArgs) -> anyhow::Result<()> {
    if args.insecure && !args.no_password {
        bail!("--insecure only goes with --no-password");
    }
    let key_type = args.key_type.key_type()?;
    let cipher: Cipher = args.cipher.parse()?;
    for path in [&args.public, &args.private] {
        refuse_existing(path, args.force)?;
    }
    let password = if args.no_password {
        None
    } else {
        Some(keypair_password(&args)?)
    };
    let key = mayfly_keys::PrivateKey::generate(key_type)?;
    let private = mayfly_keys::write_private_key_pem(&key, password.as_ref(), cipher)?;
    mayfly_keys::write_secret_file(&args.private, private.as_bytes(), args.force)?;
    let public = key.public_key().to_pem()?;
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

fn keypair_password(args: &KeypairArgs) -> anyhow::Result<Password> {
    match (&args.password_file, args.generate_password) {
        (Some(file), true) => {
            refuse_existing(file, args.force)?;
            let password = Password::generate();
            mayfly_keys::write_secret_file(file, password.as_bytes(), args.force)?;
            eprintln!("A new password has been saved in {}.", file.display());
            Ok(password)
        }
        (None, true) => {
            let password = Password::generate();
            // Printed once, on stdout only, so it can be captured; it is stored nowhere.
            println!("{}", String::from_utf8_lossy(password.as_bytes()));
            Ok(password)
        }
        (Some(file), false) => Ok(Password::from_file(file)?),
        (None, false) => prompt_new("Please enter the password to encrypt the private key: "),
    }
}

/// Runs `mayfly crypto change-pass`.
pub fn change_pass(args: ChangePassArgs) -> anyhow::Result<()> {
    // Refuse before any password is asked for.
    let out = match &args.out {
        Some(out) => {
            refuse_existing(out, args.force)?;
            out
        }
        None if args.force => &args.key,
        None => bail!(
            "refusing to rewrite {} in place without --force \
             (or write the result elsewhere with --out FILE)",
            args.key.display()
        ),
    };
    let pem =
        std::fs::read(&args.key).with_context(|| format!("reading {}", args.key.display()))?;
    let old = match &args.password_file {
        Some(file) => Some(Password::from_file(file)?),
        None if mayfly_keys::encryption_cipher(&pem)?.is_some() => {
            Some(Password::prompt(&format!(
                "Please enter the password to decrypt {}: ",
                args.key.display()
            ))?)
        }
        None => None,
    };
    let new = match &args.new_password_file {
        Some(file) => Password::from_file(file)?,
        None => prompt_new("Please enter the new password to encrypt the private key: ")?,
    };
    let cipher = args
        .cipher
        .as_deref()
        .map(str::parse::<Cipher>)
        .transpose()?;
    let rewritten = mayfly_keys::change_password(&pem, old.as_ref(), &new, cipher)?;
    mayfly_keys::write_secret_file(out, rewritten.as_bytes(), args.force)?;
    eprintln!("Your private key has been saved in {}.", out.display());
    Ok(())
}

fn refuse_existing(path: &Path, force: bool) -> anyhow::Result<()> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(mayfly_keys::KeyError::AlreadyExists(path.to_path_buf()).into());
    }
    Ok(())
}

/// Asks for a new password twice on the terminal.
fn prompt_new(prompt: &str) -> anyhow::Result<Password> {
    let first = Password::prompt(prompt)?;
    let second = Password::prompt("Please confirm the password: ")?;
    if !first.matches(&second) {
        bail!("the passwords do not match");
    }
    Ok(first)
}
