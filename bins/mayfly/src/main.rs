//! `mayfly`: the client CLI, shaped like the step CLI.
//!
//! `main` parses flags and hands each subcommand to the module that owns it; every module
//! turns flags into library calls and nothing more.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod ca;
mod certificate;
mod crypto_jose;
mod crypto_key;
mod flags;
// (more command modules are added here, one per command group)

/// Mayfly: certificates for short-lived credentials.
#[derive(Parser)]
#[command(name = "mayfly", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Keys, JWKs, JWEs and JWTs.
    #[command(subcommand)]
    Crypto(CryptoCommand),
    /// Certificates: create (root, intermediate, leaf) and inspect.
    #[command(subcommand)]
    Certificate(certificate::CertificateCommand),
    /// Talk to a CA: bootstrap, tokens, certificates, renewal, revocation.
    #[command(subcommand)]
    Ca(ca::CaCommand),
    // (more top-level command groups are added here)
}

#[derive(Subcommand)]
enum CryptoCommand {
    /// Create a key pair: PUB and PRIV files, the private key encrypted.
    Keypair(crypto_key::KeypairArgs),
    /// Change the password of an encrypted private key file.
    ChangePass(crypto_key::ChangePassArgs),
    /// JSON Web Keys: create a provisioner key pair.
    #[command(subcommand)]
    Jwk(crypto_jose::JwkCommand),
    /// JSON Web Encryption: decrypt a password-encrypted JWE.
    #[command(subcommand)]
    Jwe(crypto_jose::JweCommand),
    /// JSON Web Tokens: inspect or verify a one-time token.
    #[command(subcommand)]
    Jwt(crypto_jose::JwtCommand),
    // (more crypto subcommands are added here)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crypto(CryptoCommand::Keypair(args)) => crypto_key::keypair(args),
        Command::Crypto(CryptoCommand::ChangePass(args)) => crypto_key::change_pass(args),
        Command::Crypto(CryptoCommand::Jwk(command)) => crypto_jose::jwk(command),
        Command::Crypto(CryptoCommand::Jwe(command)) => crypto_jose::jwe(command),
        Command::Crypto(CryptoCommand::Jwt(command)) => crypto_jose::jwt(command),
        Command::Certificate(command) => certificate::run(command),
        Command::Ca(command) => ca::run(command),
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
