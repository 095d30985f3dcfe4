//! `mayfly-root password split|combine`: Shamir shares of the root password.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use zeroize::Zeroizing;

use crate::shamir::{self, ShareFile};

/// `mayfly-root password` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum PasswordCommand {
    /// Split a password into share files, any THRESHOLD of which rebuild it.
    Split {
        /// How many shares to make (at most 255).
        #[arg(long)]
        shares: u8,
        /// How many shares rebuild the password.
        #[arg(long)]
        threshold: u8,
        /// The password to split.
        #[arg(long, value_name = "FILE")]
        password_file: PathBuf,
        /// The directory the share files are written to (created if missing); files are
        /// named share-NNN.txt, mode 0600.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
    /// Rebuild the password from share files and print it (or write it with --out).
    Combine {
        /// The share files.
        #[arg(value_name = "SHARE", required = true)]
        shares: Vec<PathBuf>,
        /// Write the password to this file (mode 0600) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

/// Runs a `mayfly-root password` subcommand.
pub fn run(command: &PasswordCommand) -> anyhow::Result<()> {
    match command {
        PasswordCommand::Split {
            shares,
            threshold,
            password_file,
            out_dir,
        } => {
            let password = crate::util::read_password(password_file)?;
            let files = shamir::split(&password, *threshold, *shares)?;
            std::fs::create_dir_all(out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            let paths: Vec<PathBuf> = files
                .iter()
                .map(|f| out_dir.join(format!("share-{:03}.txt", f.index())))
                .collect();
            for path in &paths {
                crate::util::refuse_existing(path)?;
            }
            for (file, path) in files.iter().zip(&paths) {
                mayfly_keys::write_secret_file(path, file.to_text().as_bytes(), false)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            eprintln!(
                "Wrote {shares} shares to {}; any {threshold} of them rebuild the password",
                out_dir.display()
            );
            Ok(())
        }
        PasswordCommand::Combine { shares, out } => {
            let files = shares
                .iter()
                .map(|path| Ok((path.clone(), ShareFile::load(path)?)))
                .collect::<Result<Vec<_>, shamir::ShareError>>()?;
            let password = shamir::combine(&files)?;
            let mut text = Zeroizing::new(password.as_bytes().to_vec());
            text.push(b'\n');
            match out {
                Some(path) => mayfly_keys::write_secret_file(path, &text, false)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                        bail!(
                            "refusing to print the password to a terminal: redirect it or use --out"
                        );
                    }
                    std::io::stdout()
                        .write_all(&text)
                        .context("writing the password")?;
                }
            }
            Ok(())
        }
    }
}
