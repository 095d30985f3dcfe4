//! `mayfly ca ...`: talk to a Mayfly (or step-ca) CA, shaped like `step ca ...`.
//!
//! Every command finds the CA in `--ca-url`/`--root`, else in
//! `$MAYFLY_PATH/config/defaults.json` (written by `mayfly ca bootstrap` and `mayfly-ca
//! init`), and trusts only that root.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use mayfly_client::{CaUrl, Client, Defaults, mayfly_path};
use mayfly_keys::Password;

mod admin;
mod info;
mod issue;
mod renew;
mod revoke;

/// `mayfly ca ...` subcommands.
#[derive(Subcommand)]
pub enum CaCommand {
    /// Trust a CA: fetch its root, check the fingerprint, write defaults.json.
    Bootstrap(info::BootstrapArgs),
    /// Mint a one-time token for `certificate` (or `revoke` with --revoke).
    Token(issue::TokenArgs),
    /// Get a certificate: a new key, a CSR, and the CA's signature.
    Certificate(issue::CertificateArgs),
    /// Renew a certificate over mTLS, once or as a daemon.
    Renew(renew::RenewArgs),
    /// Revoke a certificate by serial, with a token or over mTLS with the certificate.
    Revoke(revoke::RevokeArgs),
    /// Print the CA's root certificates (PEM).
    Roots(ConnArgs),
    /// The CA's provisioners.
    #[command(subcommand)]
    Provisioner(ProvisionerCommand),
    /// The CA's admins (remote management).
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// ACME settings (remote management).
    #[command(subcommand)]
    Acme(AcmeCommand),
    /// Check that the CA is up and trusted.
    Health(ConnArgs),
}

/// `mayfly ca provisioner ...` subcommands.
#[derive(Subcommand)]
pub enum ProvisionerCommand {
    /// List the provisioners (JSON).
    List(ConnArgs),
    /// Add a provisioner (remote management).
    Add(admin::ProvisionerAddArgs),
    /// Change a provisioner's claims or requireEAB (remote management).
    Update(admin::ProvisionerUpdateArgs),
    /// Remove a provisioner (remote management).
    Remove(admin::ProvisionerRemoveArgs),
}

/// `mayfly ca acme ...` subcommands.
#[derive(Subcommand)]
pub enum AcmeCommand {
    /// External account binding keys of ACME provisioners.
    #[command(subcommand)]
    Eab(admin::EabCommand),
}

/// Where the CA is and which root to trust.
#[derive(Args, Clone, Debug)]
pub struct ConnArgs {
    /// The CA URL (default: `ca-url` in $MAYFLY_PATH/config/defaults.json).
    #[arg(long, value_name = "URL")]
    pub ca_url: Option<String>,
    /// The root certificate to trust (default: `root` in defaults.json).
    #[arg(long, value_name = "FILE")]
    pub root: Option<PathBuf>,
}

impl ConnArgs {
    /// A client for the CA these flags (or defaults.json) name.
    fn client(&self) -> anyhow::Result<Client> {
        let defaults = match (&self.ca_url, &self.root) {
            (Some(_), Some(_)) => None,
            _ => {
                let path = Defaults::path(&mayfly_path()?);
                Some(Defaults::load(&path).with_context(|| {
                    format!(
                        "no CA configured: run `mayfly ca bootstrap --ca-url URL --fingerprint FP` or pass --ca-url and --root (reading {})",
                        path.display()
                    )
                })?)
            }
        };
        let url = match (&self.ca_url, &defaults) {
            (Some(url), _) => url.clone(),
            (None, Some(d)) => d.ca_url.clone(),
            (None, None) => bail!("--ca-url is required"),
        };
        let root_path = match (&self.root, &defaults) {
            (Some(root), _) => root.clone(),
            (None, Some(d)) => d.root.clone(),
            (None, None) => bail!("--root is required"),
        };
        let pem = std::fs::read_to_string(&root_path)
            .with_context(|| format!("reading the root {}", root_path.display()))?;
        let root = mayfly_template::parse_certificate_pem(&pem)
            .with_context(|| format!("reading the root {}", root_path.display()))?;
        if let (None, Some(d)) = (&self.root, &defaults) {
            let actual = mayfly_template::fingerprint_sha256(&root)?;
            if actual != mayfly_client::parse_fingerprint(&d.fingerprint)? {
                bail!(
                    "{} does not match the fingerprint {} in defaults.json: bootstrap again",
                    root_path.display(),
                    d.fingerprint
                );
            }
        }
        Ok(Client::with_root(CaUrl::parse(&url)?, root)?)
    }
}

/// Runs a `mayfly ca` subcommand on a single-threaded tokio runtime.
pub fn run(command: CaCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        match command {
            CaCommand::Bootstrap(args) => info::bootstrap(args).await,
            CaCommand::Token(args) => issue::token(args).await,
            CaCommand::Certificate(args) => issue::certificate(args).await,
            CaCommand::Renew(args) => renew::renew(args).await,
            CaCommand::Revoke(args) => revoke::revoke(args).await,
            CaCommand::Roots(conn) => info::roots(conn).await,
            CaCommand::Provisioner(ProvisionerCommand::List(conn)) => {
                info::provisioners(conn).await
            }
            CaCommand::Provisioner(ProvisionerCommand::Add(args)) => {
                admin::provisioner_add(args).await
            }
            CaCommand::Provisioner(ProvisionerCommand::Update(args)) => {
                admin::provisioner_update(args).await
            }
            CaCommand::Provisioner(ProvisionerCommand::Remove(args)) => {
                admin::provisioner_remove(args).await
            }
            CaCommand::Admin(command) => admin::admin(command).await,
            CaCommand::Acme(AcmeCommand::Eab(command)) => admin::eab(command).await,
            CaCommand::Health(conn) => info::health(conn).await,
        }
    })
}

/// The password in `file`, or asked for on the terminal.
fn password(file: Option<&Path>, prompt: &str) -> anyhow::Result<Password> {
    Ok(match file {
        Some(path) => Password::from_file(path)
            .with_context(|| format!("reading the password file {}", path.display()))?,
        None => Password::prompt(prompt)
            .context("no --password-file given and no terminal to ask on")?,
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::CaCommand;

    #[derive(Parser)]
    struct Ca {
        #[command(subcommand)]
        command: CaCommand,
    }

    #[test]
    fn flags_are_consistent() {
        Ca::command().debug_assert();
    }
}
