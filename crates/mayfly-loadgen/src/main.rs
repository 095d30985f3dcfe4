//! `mayfly-loadgen`: the Rust half of `scripts/bench.sh`.
//!
//! - `tokens` writes a pool of POST /1.0/sign bodies (a CSR and a fresh one-time token each),
//!   one JSON document per line, for `scripts/bench/mayfly_sign.lua` to replay with wrk;
//!   minting in process is what makes tens of thousands of single-use tokens affordable.
//! - `issue N` runs the in-process issuance path N times, for the callgrind regression check.
#![forbid(unsafe_code)]

mod error;
mod issue;
mod pool;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::Error;

/// Command line.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write COUNT sign bodies (one JSON per line) for a running CA.
    Tokens {
        /// The CA's ca.json (the provisioner's encryptedKey is read from it).
        #[arg(long)]
        ca_config: PathBuf,
        /// The JWK provisioner that mints the tokens.
        #[arg(long)]
        provisioner: String,
        /// File holding the provisioner password.
        #[arg(long)]
        provisioner_password_file: PathBuf,
        /// Token audience, e.g. https://127.0.0.1:9443/1.0/sign.
        #[arg(long)]
        audience: String,
        /// How many bodies (each token is single use).
        #[arg(long)]
        count: usize,
        /// How many distinct CSRs to cycle through.
        #[arg(long, default_value_t = 16)]
        pool: usize,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Issue COUNT certificates in process (token, template, signature, SQLite).
    Issue {
        /// How many certificates.
        count: usize,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Tokens {
            ca_config,
            provisioner,
            provisioner_password_file,
            audience,
            count,
            pool,
            out,
        } => tokens::minter(
            &ca_config,
            &provisioner,
            &provisioner_password_file,
            audience,
        )
        .and_then(|minter| tokens::write_bodies(&minter, count, pool, &out)),
        Command::Issue { count } => issue::run(count),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mayfly-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
