//! `mayfly-loadgen`: the Rust half of `scripts/bench.sh`.
//!
//! - `tokens` writes a pool of POST /1.0/sign bodies (a CSR and a fresh one-time token each),
//!   one JSON document per line, for `benches/mayfly_sign.lua` to replay with wrk;
//!   minting in process is what makes tens of thousands of single-use tokens affordable.
//! - `issue N` runs the in-process issuance path N times, for the callgrind regression check.
//! - `acme` drives complete ACME orders against a directory URL (Mayfly or Pebble) with
//!   workers sharing one account, and prints orders/s.
#![forbid(unsafe_code)]

mod acme;
mod error;
mod issue;
mod pool;
mod tokens;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
    /// Complete ACME orders per second; prints `RESULT {json}`.
    Acme {
        /// Directory URL, e.g. https://127.0.0.1:9000/acme/acme/directory.
        #[arg(long)]
        directory: String,
        /// PEM root(s) the server's TLS certificate chains to.
        #[arg(long)]
        ca_file: PathBuf,
        /// Concurrent order loops sharing one account.
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Seconds of warm-up (not counted).
        #[arg(long, default_value_t = 2.0)]
        warmup: f64,
        /// Seconds measured.
        #[arg(long, default_value_t = 8.0)]
        duration: f64,
        /// Milliseconds between two polls of a pending authorization or order.
        #[arg(long, default_value_t = 5)]
        poll_ms: u64,
        /// Port of the http-01 responder on 127.0.0.1 (0: none).
        #[arg(long, default_value_t = 0)]
        http_port: u16,
        /// Port of the DNS responder on 127.0.0.1 (0: none).
        #[arg(long, default_value_t = 0)]
        dns_port: u16,
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
        Command::Acme {
            directory,
            ca_file,
            workers,
            warmup,
            duration,
            poll_ms,
            http_port,
            dns_port,
        } => acme::run(&acme::Settings {
            directory,
            ca_file,
            workers,
            warmup: Duration::from_secs_f64(warmup),
            duration: Duration::from_secs_f64(duration),
            poll: Duration::from_millis(poll_ms),
            http_port,
            dns_port,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mayfly-loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}
