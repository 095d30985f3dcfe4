//! `mayfly-root crl`: a signed CRL from index.txt.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use mayfly_crl::{CertInfo, Crl, CrlBuilder, Index, Serial};
use mayfly_keys::Signer;
use time::{Duration, OffsetDateTime};

/// Flags of `mayfly-root crl`.
#[derive(Debug, clap::Args)]
pub struct CrlArgs {
    /// The OpenSSL CA database.
    #[arg(long, value_name = "FILE")]
    index: PathBuf,
    /// The CA certificate (PEM or DER) the CRL is issued by.
    #[arg(long, value_name = "CRT")]
    ca: PathBuf,
    /// The CA's private key: a PEM file or a `pkcs11:` URI.
    #[arg(long, value_name = "KEY")]
    ca_key: String,
    /// File holding the key's password.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// OpenSSL `crlnumber` file (hex): its number is used, then it is incremented. Without
    /// it the CRL number is the current Unix time.
    #[arg(long, value_name = "FILE")]
    crlnumber: Option<PathBuf>,
    /// Days until nextUpdate.
    #[arg(long, default_value_t = 30, conflicts_with = "hours")]
    days: i64,
    /// Hours until nextUpdate (instead of --days).
    #[arg(long)]
    hours: Option<i64>,
    /// Where to write the CRL (default: standard output).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Write PEM instead of DER.
    #[arg(long)]
    pem: bool,
}

/// One CRL to issue from an index.txt.
pub struct CrlJob<'a> {
    /// The OpenSSL CA database.
    pub index: &'a Path,
    /// The issuing CA's certificate (PEM or DER).
    pub ca: &'a Path,
    /// The crlnumber file (hex), advanced after use; `None` uses the Unix time.
    pub crlnumber: Option<&'a Path>,
    /// Time until nextUpdate.
    pub lifetime: Duration,
    /// PEM instead of DER.
    pub pem: bool,
}

impl CrlJob<'_> {
    /// Signs the CRL, writes it to `out` (standard output when `None`), advances the
    /// crlnumber file, and returns the CRL and its number.
    pub fn issue(&self, signer: &dyn Signer, out: Option<&Path>) -> anyhow::Result<(Crl, Serial)> {
        if self.lifetime <= Duration::ZERO {
            bail!("the CRL lifetime must be positive");
        }
        let revoked = Index::revoked_in_file(self.index)?;
        let ca_bytes =
            std::fs::read(self.ca).with_context(|| format!("reading {}", self.ca.display()))?;
        let ca =
            CertInfo::parse(&ca_bytes).with_context(|| format!("parsing {}", self.ca.display()))?;
        let now = OffsetDateTime::now_utc().replace_nanosecond(0)?;
        let number = match self.crlnumber {
            Some(path) => read_crlnumber(path)?,
            None => Serial::from(now.unix_timestamp().unsigned_abs()),
        };
        let builder = CrlBuilder::new(&ca, now, now + self.lifetime, number).with_entries(revoked);
        let crl = builder.sign(signer)?;
        let write = |to: &mut dyn Write| {
            if self.pem {
                crl.write_pem(to)
            } else {
                to.write_all(crl.as_der())
            }
        };
        match out {
            Some(path) => std::fs::File::create(path)
                .and_then(|mut file| write(&mut file))
                .with_context(|| format!("writing {}", path.display()))?,
            None => write(&mut std::io::stdout().lock()).context("writing the CRL to stdout")?,
        }
        if let Some(path) = self.crlnumber {
            write_crlnumber(path, number.next()?)?;
        }
        Ok((crl, number))
    }
}

/// Runs `mayfly-root crl`.
pub fn run(args: &CrlArgs) -> anyhow::Result<()> {
    let lifetime = match args.hours {
        Some(hours) => Duration::hours(hours),
        None => Duration::days(args.days),
    };
    let job = CrlJob {
        index: &args.index,
        ca: &args.ca,
        crlnumber: args.crlnumber.as_deref(),
        lifetime,
        pem: args.pem,
    };
    let signer = crate::key::load_signer(&args.ca_key, args.password_file.as_deref())?;
    job.issue(signer.as_ref(), args.out.as_deref())?;
    Ok(())
}

fn read_crlnumber(path: &Path) -> anyhow::Result<Serial> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Serial::from_hex(text.trim())
        .with_context(|| format!("{}: not a hex CRL number", path.display()))
}

/// Replaces the number as openssl does: `<file>.new`, old one kept as `<file>.old`.
fn write_crlnumber(path: &Path, number: Serial) -> anyhow::Result<()> {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let new = with_suffix(".new");
    std::fs::write(&new, format!("{number}\n"))
        .with_context(|| format!("writing {}", new.display()))?;
    std::fs::copy(path, with_suffix(".old"))
        .with_context(|| format!("backing up {}", path.display()))?;
    std::fs::rename(&new, path).with_context(|| format!("replacing {}", path.display()))
}
