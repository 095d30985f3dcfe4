//! `mayfly-root`: the offline root tool. It runs on an air-gapped host (or beside an HSM):
//! it creates the root (`init`, key encrypted on disk or generated inside a PKCS#11 token),
//! signs intermediates' CSRs (`sign-csr`), runs whole ceremonies from a YAML file with an
//! audit transcript (`ceremony`), keeps the root's revocation state in an OpenSSL
//! `index.txt` (`index`, `revoke`, `crl`), re-encrypts keys (`change-pass`) and splits the
//! root password into Shamir shares (`password split|combine`). No command opens a socket.
//!
//! `main` parses flags and calls [`run`]; each command group lives in its own module under
//! `commands/`.

use clap::{Parser, Subcommand};

mod commands;
mod key;
mod shamir;
mod util;

/// The Mayfly offline root tool.
#[derive(Debug, Parser)]
#[command(name = "mayfly-root", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the root: a new key (encrypted file or inside an HSM) and its certificate.
    Init(commands::init::InitArgs),
    /// Sign an intermediate's CSR with the root, after showing what will be signed.
    SignCsr(commands::sign::SignArgs),
    /// Run a ceremony described in a YAML file and write its transcript.
    Ceremony(commands::ceremony::CeremonyArgs),
    /// Re-encrypt a key file under a new password.
    ChangePass(commands::change_pass::ChangePassArgs),
    /// Split the root password into Shamir shares, or combine shares back.
    #[command(subcommand)]
    Password(commands::password::PasswordCommand),
    /// Sign a CRL listing every revoked row of an index.txt (like `openssl ca -gencrl`).
    Crl(commands::crl::CrlArgs),
    /// Mark a certificate revoked in index.txt (like `openssl ca -revoke`).
    Revoke(commands::index::RevokeArgs),
    /// Work on the index.txt certificate database.
    #[command(subcommand)]
    Index(commands::index::IndexCommand),
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Init(args) => commands::init::run(&args),
        Command::SignCsr(args) => commands::sign::run(&args),
        Command::Ceremony(args) => commands::ceremony::run(&args),
        Command::ChangePass(args) => commands::change_pass::run(&args),
        Command::Password(command) => commands::password::run(&command),
        Command::Crl(args) => commands::crl::run(&args),
        Command::Revoke(args) => commands::index::revoke(&args),
        Command::Index(command) => commands::index::run(&command),
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mayfly-root: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
