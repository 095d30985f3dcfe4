//! `mayfly-ca serve` and `mayfly-ca quickstart`: run the CA's TLS API.
//!
//! `serve` loads ca.json, refuses key and password files that group or others can read,
//! opens the authority and serves until SIGTERM/SIGINT (draining in-flight requests);
//! SIGHUP re-reads ca.json and applies it without dropping connections, keeping the old
//! configuration when the new one is broken. It prunes the store on the schedule of ca.json's
//! `db.prune` (expired token ids and nonces, expired certificates' DER; read at start).
//! `quickstart` creates a throwaway PKI in `./mayfly-demo` (once) and serves it on
//! 127.0.0.1:9000.

use std::io::IsTerminal as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use mayfly_authority::Authority;
use mayfly_authority::config::CaConfig;
use mayfly_keys::{KeyType, Password};
use mayfly_server::{Server, ServerHandle, ServerOptions};
use tokio::signal::unix::{SignalKind, signal};

/// Log line format.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `mayfly-ca serve [CONFIG]`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// ca.json [default: $MAYFLY_PATH/config/ca.json, MAYFLY_PATH defaulting to ~/.mayfly].
    #[arg(conflicts_with = "ca_config")]
    pub config: Option<PathBuf>,
    /// ca.json, as a flag (same as CONFIG).
    #[arg(long, value_name = "FILE")]
    pub ca_config: Option<PathBuf>,
    /// File holding the password of the intermediate key (`<(...)` works). Asked for on a
    /// terminal when missing; never read from the environment.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Start even when a key or password file is readable by group or others.
    #[arg(long)]
    pub insecure_permissions: bool,
    /// Log format [default: ca.json's `logger.format`, else text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
    /// Serve the throwaway demo PKI (same as `mayfly-ca quickstart`).
    #[arg(long)]
    pub demo: bool,
}

/// `mayfly-ca quickstart`.
#[derive(Args, Debug)]
pub struct QuickstartArgs {
    /// Where the demo PKI lives (created when missing).
    #[arg(long, default_value = "mayfly-demo")]
    pub path: PathBuf,
    /// The API address (written to ca.json when the PKI is created).
    #[arg(long, default_value = crate::init::DEFAULT_ADDRESS)]
    pub address: String,
    /// Log format [default: ca.json's `logger.format`, else text].
    #[arg(long, value_enum)]
    pub log_format: Option<LogFormat>,
}

/// Runs `serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.demo {
        return quickstart(QuickstartArgs {
            path: PathBuf::from("mayfly-demo"),
            address: crate::init::DEFAULT_ADDRESS.to_owned(),
            log_format: args.log_format,
        });
    }
    let config_path = match args.config.or(args.ca_config) {
        Some(path) => path,
        None => crate::files::default_mayfly_path()?.join("config/ca.json"),
    };
    serve(
        &config_path,
        args.password_file.as_deref(),
        args.insecure_permissions,
        None,
        args.log_format,
    )
}

/// Runs `quickstart`: `init` into `path` unless a PKI is already there, then `serve` it.
pub fn quickstart(args: QuickstartArgs) -> anyhow::Result<()> {
    init_logging(args.log_format.unwrap_or_default());
    let layout = crate::init::Layout::new(&args.path)?;
    if !layout.ca_config.exists() {
        let options = crate::init::InitOptions {
            path: args.path.clone(),
            name: "Mayfly Demo".to_owned(),
            dns_names: vec!["localhost".to_owned(), "127.0.0.1".to_owned()],
            address: args.address.clone(),
            provisioner: "demo".to_owned(),
            key_type: KeyType::EcP256,
            password_file: None,
            provisioner_password_file: None,
            root: None,
            root_kms: None,
            intermediate_kms: None,
            csr_only: false,
            intermediate: None,
            force: false,
            admin_subject: None,
        };
        crate::init::init(&options).context("creating the demo PKI")?;
        println!("Created a throwaway PKI in {}", layout.base.display());
    }
    serve(
        &layout.ca_config,
        Some(&layout.password),
        false,
        Some(&layout),
        args.log_format,
    )
}

fn serve(
    config_path: &Path,
    password_file: Option<&Path>,
    insecure_permissions: bool,
    demo: Option<&crate::init::Layout>,
    log_format: Option<LogFormat>,
) -> anyhow::Result<()> {
    let config = CaConfig::load(config_path)
        .with_context(|| format!("loading {}", config_path.display()))?;
    let format = match (
        log_format,
        config.logger.as_ref().and_then(|l| l.format.as_deref()),
    ) {
        (Some(format), _) => format,
        (None, None | Some("text")) => LogFormat::Text,
        (None, Some("json")) => LogFormat::Json,
        (None, Some(other)) => bail!(
            "{}: logger.format {other:?} is not a log format (use \"text\" or \"json\")",
            config_path.display()
        ),
    };
    init_logging(format);
    if config.password.0 {
        tracing::warn!(
            "{} has a \"password\" key: Mayfly ignores it (pass --password-file)",
            config_path.display()
        );
    }
    if !insecure_permissions {
        let key = (!config.key.starts_with("pkcs11:")).then(|| PathBuf::from(&config.key));
        for file in key.iter().map(PathBuf::as_path).chain(password_file) {
            check_private(file)?;
        }
    }
    let password = match password_file {
        Some(file) => {
            Some(Password::from_file(file).with_context(|| format!("reading {}", file.display()))?)
        }
        None if std::io::stdin().is_terminal() && !config.key.starts_with("pkcs11:") => Some(
            Password::prompt("Password to decrypt the intermediate key: ")?,
        ),
        None => None,
    };
    if let Some(password) = &password {
        warn_on_provisioners_sharing_the_ca_password(&config, password);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        // Installed before anything is announced, so a SIGTERM that follows the "serving"
        // line always drains instead of killing the process.
        let signals = Signals::install()?;
        let authority = Arc::new(Authority::open(&config, password.as_ref()).await?);
        drop(password);
        // Every instance prunes: the passes are idempotent, so instances sharing a database
        // need no coordination.
        let prune = mayfly_authority::db_config(&config)?.prune;
        let pruning = authority.store().spawn_pruning(&prune);
        match prune.interval() {
            Some(every) => tracing::info!(
                every = %mayfly_template::GoDuration(every),
                keep_expired_certificate_der =
                    %mayfly_template::GoDuration(prune.keep_expired_certificate_der()),
                "pruning expired token ids and certificate DER"
            ),
            None => tracing::info!("pruning is off (db.prune.interval is 0)"),
        }
        let server = Server::bind(
            Arc::clone(&authority),
            &config,
            ServerOptions::default().with_limits(config.limits.as_ref())?,
        )
        .await?;
        if let Some(addr) = server.local_addr() {
            tracing::info!(address = %addr, "serving the API over TLS");
        }
        if let Some(addr) = server.insecure_addr() {
            tracing::info!(address = %addr, "serving the CRL and OCSP over plain HTTP");
        }
        if let Some(addr) = server.metrics_addr() {
            tracing::info!(address = %addr, "serving metrics");
        }
        if let (Some(layout), Some(addr)) = (demo, server.local_addr()) {
            print_demo_help(layout, &authority, addr)?;
        }
        let signals = tokio::spawn(handle_signals(
            signals,
            server.handle(),
            config_path.to_owned(),
        ));
        server.run().await?;
        signals.abort();
        if let Some(pruning) = pruning {
            pruning.abort();
        }
        tracing::info!("stopped");
        anyhow::Ok(())
    })
}

/// step's default PKI encrypts its first provisioner key with the CA password, which the
/// production guide tells operators to replace: say so when a JWK provisioner's key opens
/// with the CA's password.
fn warn_on_provisioners_sharing_the_ca_password(config: &CaConfig, ca_password: &Password) {
    for provisioner in &config.authority.provisioners {
        let mayfly_authority::config::ProvisionerConfig::Jwk(jwk) = provisioner else {
            continue;
        };
        let Some(encrypted) = &jwk.encrypted_key else {
            continue;
        };
        if mayfly_jwt::decrypt_jwk(encrypted, ca_password).is_ok() {
            tracing::warn!(
                provisioner = jwk.name,
                "the key of provisioner {:?} is encrypted with the CA password: anyone who can \
                 mint its tokens can also decrypt the CA key; replace the provisioner \
                 (`mayfly-ca provisioner add` with its own password, then `remove` this one)",
                jwk.name
            );
        }
    }
}

/// The signals `serve` acts on.
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            hup: signal(SignalKind::hangup())?,
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }
}

/// SIGHUP reloads ca.json; SIGTERM and SIGINT start the drain.
async fn handle_signals(
    mut signals: Signals,
    handle: ServerHandle,
    config_path: PathBuf,
) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            _ = signals.hup.recv() => match CaConfig::load(&config_path) {
                Ok(config) => match handle.reload(&config) {
                    Ok(()) => {}
                    Err(e) => tracing::error!("reload refused, the previous configuration keeps serving: {e}"),
                },
                Err(e) => tracing::error!(
                    "reload refused, the previous configuration keeps serving: {}: {e}",
                    config_path.display()
                ),
            },
            _ = signals.term.recv() => break,
            _ = signals.int.recv() => break,
        }
    }
    tracing::info!("shutting down: draining in-flight requests");
    handle.shutdown();
    Ok(())
}

/// Refuses a secret file that group or others may read.
fn check_private(path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        bail!(
            "{} is readable by group or others (mode {mode:03o}): run `chmod 600 {}`, or pass --insecure-permissions",
            path.display(),
            path.display()
        );
    }
    Ok(())
}

fn print_demo_help(
    layout: &crate::init::Layout,
    authority: &Authority,
    addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let root = authority
        .roots()
        .first()
        .context("the demo CA has no root")?;
    let fingerprint = mayfly_template::fingerprint_sha256(root)?;
    let url = format!("https://localhost:{}", addr.port());
    let root_file = layout.root_certificate.display();
    let password = layout.provisioner_password.display();
    println!("Mayfly demo CA at {url}");
    println!("Root fingerprint: {fingerprint}");
    println!("Get a certificate:");
    println!(
        "  mayfly ca certificate localhost localhost.crt localhost.key --ca-url {url} --root {root_file} --password-file {password}"
    );
    println!("or with the step CLI:");
    println!(
        "  step ca certificate localhost localhost.crt localhost.key --ca-url {url} --root {root_file} --provisioner-password-file {password}"
    );
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MAYFLY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
