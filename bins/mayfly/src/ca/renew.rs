//! `mayfly ca renew CRT KEY [--daemon]`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use mayfly_client::{Notify, Renewer};

use super::ConnArgs;

/// Flags of `mayfly ca renew`.
#[derive(Args)]
pub struct RenewArgs {
    /// The certificate (PEM bundle) to renew; the renewed one replaces it.
    pub crt: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
    /// File holding the key's password, if the key is encrypted.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Write the renewed certificate here instead of CRT.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Overwrite the output file without asking.
    #[arg(long)]
    pub force: bool,
    /// Keep running: renew at 2/3 of each certificate's lifetime (with jitter), retrying
    /// while the CA is unreachable.
    #[arg(long)]
    pub daemon: bool,
    /// Command to run (with `sh -c`) after each renewal, e.g. "systemctl reload nginx".
    #[arg(long, value_name = "CMD", requires = "daemon")]
    pub exec: Option<String>,
    /// Process to signal after each renewal.
    #[arg(long, value_name = "PID", requires = "daemon")]
    pub pid: Option<u32>,
    /// The signal sent to --pid: a name (HUP, USR1, ...) or a number (1, 10, ...).
    #[arg(long, default_value = "HUP", requires = "pid")]
    pub signal: String,
    /// Longest wait between retries while the CA is unreachable.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub max_retry_interval: u64,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Renews once, or forever with --daemon.
pub async fn renew(args: RenewArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let password = match &args.password_file {
        Some(path) => Some(
            mayfly_keys::Password::from_file(path)
                .with_context(|| format!("reading {}", path.display()))?,
        ),
        None => None,
    };
    let out = args.out.clone().unwrap_or_else(|| args.crt.clone());
    let mut renewer = Renewer::from_files(client, &args.crt, &args.key, password.as_ref())
        .with_context(|| format!("reading {} and {}", args.crt.display(), args.key.display()))?
        .with_certificate_file(&out)
        .with_retry(
            Duration::from_secs(1),
            Duration::from_secs(args.max_retry_interval.max(1)),
        );
    if !args.daemon {
        if !args.force && out.exists() {
            anyhow::bail!("{} exists: pass --force to overwrite it", out.display());
        }
        let renewed = renewer.renew_now().await?;
        eprintln!(
            "Your certificate has been saved in {} (serial {}).",
            out.display(),
            renewed.serial_decimal()
        );
        return Ok(());
    }
    if let Some(cmd) = args.exec {
        renewer = renewer.with_notify(Notify::Exec(cmd));
    }
    if let Some(pid) = args.pid {
        renewer = renewer.with_notify(Notify::signal(pid, &args.signal)?);
    }
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // No colour codes in log files and journals.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    renewer.run(shutdown).await?;
    Ok(())
}
