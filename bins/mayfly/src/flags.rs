//! Flags several commands share.

use clap::Args;
use mayfly_keys::KeyType;

/// `--kty`, `--crv`, `--size`: the type of a new key, spelled as the step CLI spells it.
#[derive(Args, Clone, Debug)]
pub struct KeyTypeArgs {
    /// Key type: EC, OKP or RSA.
    #[arg(long, default_value = "EC")]
    pub kty: String,
    /// Curve: P-256 (default for EC), P-384, or Ed25519 (default for OKP).
    #[arg(long)]
    pub crv: Option<String>,
    /// RSA modulus size in bits: 2048 (default), 3072 or 4096.
    #[arg(long)]
    pub size: Option<usize>,
}

impl KeyTypeArgs {
    /// The key type these flags name.
    pub fn key_type(&self) -> anyhow::Result<KeyType> {
        Ok(KeyType::from_step_flags(
            &self.kty,
            self.crv.as_deref(),
            self.size,
        )?)
    }
}
