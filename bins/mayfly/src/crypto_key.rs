//! `mayfly crypto keypair` and `mayfly crypto change-pass`.

use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

/// Flags of `mayfly crypto keypair`.
#[derive(Args)]
pub struct KeypairArgs {
    /// Where to write the public key (PEM).
    pub public: PathBuf,
    /// Where to write the private key (PEM, encrypted unless --no-password --insecure).
    pub private: PathBuf,
}

/// Flags of `mayfly crypto change-pass`.
#[derive(Args)]
pub struct ChangePassArgs {
    /// The encrypted private key file to rewrite.
    pub key: PathBuf,
}

/// Runs `mayfly crypto keypair`.
pub fn keypair(_args: KeypairArgs) -> anyhow::Result<()> {
    bail!("not built yet")
}

/// Runs `mayfly crypto change-pass`.
pub fn change_pass(_args: ChangePassArgs) -> anyhow::Result<()> {
    bail!("not built yet")
}
