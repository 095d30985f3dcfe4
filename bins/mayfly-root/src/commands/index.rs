//! `mayfly-root revoke` and `mayfly-root index ...`: the index.txt database.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mayfly_crl::{CertInfo, Index, IndexEntry, Reason, Serial};
use time::OffsetDateTime;

/// Flags of `mayfly-root revoke`.
#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The OpenSSL CA database.
    #[arg(long, value_name = "FILE")]
    index: PathBuf,
    /// Serial number of the certificate, in hex.
    #[arg(long, value_name = "HEX")]
    serial: Serial,
    /// keyCompromise, CACompromise, affiliationChanged, superseded, cessationOfOperation,
    /// certificateHold, removeFromCRL, privilegeWithdrawn, aACompromise or unspecified.
    #[arg(long)]
    reason: Option<Reason>,
}

/// `mayfly-root index` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Record an issued certificate as valid (V).
    Add {
        /// The OpenSSL CA database (created when missing).
        #[arg(long, value_name = "FILE")]
        index: PathBuf,
        /// The certificate (PEM or DER).
        #[arg(value_name = "CRT")]
        cert: PathBuf,
    },
    /// Mark valid certificates past their expiry as expired (E), like `openssl ca -updatedb`.
    Updatedb {
        /// The OpenSSL CA database.
        #[arg(long, value_name = "FILE")]
        index: PathBuf,
    },
}

/// Runs `mayfly-root revoke`.
pub fn revoke(args: &RevokeArgs) -> anyhow::Result<()> {
    let mut index = Index::load(&args.index)?;
    index.revoke(args.serial, args.reason, OffsetDateTime::now_utc())?;
    index.save(&args.index)?;
    let reason = args.reason.map_or(String::new(), |r| format!(" ({r})"));
    eprintln!("Revoked serial {}{reason}", args.serial);
    Ok(())
}

/// Runs a `mayfly-root index` subcommand.
pub fn run(command: &IndexCommand) -> anyhow::Result<()> {
    match command {
        IndexCommand::Add { index, cert } => add(index, cert),
        IndexCommand::Updatedb { index: path } => {
            let mut index = Index::load(path)?;
            let changed = index.update_expired(OffsetDateTime::now_utc());
            index.save(path)?;
            eprintln!("{changed} certificate(s) marked expired");
            Ok(())
        }
    }
}

fn add(path: &Path, cert: &Path) -> anyhow::Result<()> {
    let mut index = if path.exists() {
        Index::load(path)?
    } else {
        Index::default()
    };
    let bytes = std::fs::read(cert).with_context(|| format!("reading {}", cert.display()))?;
    let info = CertInfo::parse(&bytes).with_context(|| format!("parsing {}", cert.display()))?;
    index.add(IndexEntry::for_certificate(&info))?;
    index.save(path)?;
    eprintln!(
        "Recorded serial {} {}",
        info.serial(),
        info.subject_oneline()
    );
    Ok(())
}
