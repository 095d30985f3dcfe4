//! `mayfly-ca`: the certificate authority's command line.
//!
//! `main` parses flags and hands each subcommand to the module that owns it: `init` creates a
//! PKI and its configuration (`init.rs` is the library-shaped core, `init_cli.rs` the flags and
//! prompts), `provisioner` edits the provisioners in `ca.json`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod acme;
mod files;
mod init;
mod init_cli;
mod json;
mod provisioner;
mod serve;
// (more modules are added here)

/// Mayfly CA: a certificate authority for short-lived certificates.
#[derive(Parser)]
#[command(name = "mayfly-ca", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a root and intermediate CA, ca.json, defaults.json and the database.
    Init(init_cli::InitArgs),
    /// List, add, update or remove provisioners in ca.json (a CA without enableAdmin).
    #[command(subcommand)]
    Provisioner(provisioner::ProvisionerCommand),
    /// ACME EAB keys, written to the database (a CA without enableAdmin).
    #[command(subcommand)]
    Acme(acme::AcmeCommand),
    /// Serve the CA's TLS API (ca.json, --password-file); SIGHUP reloads, SIGTERM drains.
    Serve(serve::ServeArgs),
    /// Create a throwaway PKI in ./mayfly-demo (once) and serve it on 127.0.0.1:9000.
    Quickstart(serve::QuickstartArgs),
    // (more commands are added here)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(args) => init_cli::run(args),
        Command::Provisioner(command) => provisioner::run(command),
        Command::Acme(command) => acme::run(command),
        Command::Serve(args) => serve::run(args),
        Command::Quickstart(args) => serve::quickstart(args),
        // (more dispatch arms are added here)
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
