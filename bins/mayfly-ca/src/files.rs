//! Where Mayfly's files live and how passwords are read or generated.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use mayfly_keys::Password;

/// `$MAYFLY_PATH`, else `~/.mayfly`.
#[expect(
    clippy::disallowed_methods,
    reason = "MAYFLY_PATH and HOME name a folder, never a secret"
)]
pub fn default_mayfly_path() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MAYFLY_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("neither MAYFLY_PATH nor HOME is set: pass --path")?;
    Ok(PathBuf::from(home).join(".mayfly"))
}

/// `path` made absolute against the current directory (without resolving symlinks).
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// Reads the password in `file`.
pub fn read_password(file: &Path) -> anyhow::Result<Password> {
    Password::from_file(file)
        .with_context(|| format!("reading the password file {}", file.display()))
}

/// Generates a strong password and writes it to `path` (mode 0600, atomically).
pub fn generate_password_file(path: &Path, overwrite: bool) -> anyhow::Result<Password> {
    let generated = NewPassword::read_or_generate(None, path)?;
    generated.persist(overwrite)?;
    Ok(generated.password)
}

/// A password read from a file, or generated and not yet written.
pub struct NewPassword {
    /// The password.
    pub password: Password,
    /// Where a generated password goes once the keys it protects are written.
    pending: Option<PathBuf>,
}

impl NewPassword {
    /// Reads `file` when given, else generates a password destined for `generated`.
    pub fn read_or_generate(file: Option<&Path>, generated: &Path) -> anyhow::Result<Self> {
        Ok(match file {
            Some(file) => Self {
                password: read_password(file)?,
                pending: None,
            },
            None => Self {
                password: Password::generate(),
                pending: Some(generated.to_owned()),
            },
        })
    }

    /// A password that was read from `file`.
    pub fn read(file: &Path) -> anyhow::Result<Self> {
        Self::read_or_generate(Some(file), file)
    }

    /// Writes a generated password to its file (mode 0600); returns that path.
    pub fn persist(&self, overwrite: bool) -> anyhow::Result<Option<PathBuf>> {
        if let Some(path) = &self.pending {
            mayfly_keys::write_secret_file(path, self.password.as_bytes(), overwrite)
                .with_context(|| format!("writing the generated password to {}", path.display()))?;
        }
        Ok(self.pending.clone())
    }
}
