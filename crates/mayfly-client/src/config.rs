//! `$MAYFLY_PATH/config/defaults.json`: the CA URL, the pinned root fingerprint and the root
//! file, written by `mayfly ca bootstrap` and by `mayfly-ca init` (step's key names).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::ClientError;

/// The client defaults step calls `defaults.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// The CA URL, `https://HOST[:PORT]`.
    #[serde(rename = "ca-url")]
    pub ca_url: String,
    /// SHA-256 fingerprint of the root (hex).
    pub fingerprint: String,
    /// The root certificate file.
    pub root: PathBuf,
    /// The CA's `ca.json`, when this host is the CA (written by `mayfly-ca init`).
    #[serde(rename = "ca-config", default, skip_serializing_if = "Option::is_none")]
    pub ca_config: Option<PathBuf>,
    /// step's redirect URL for OIDC flows (kept so step files load).
    #[serde(
        rename = "redirect-url",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub redirect_url: Option<String>,
}

impl Defaults {
    /// `$MAYFLY_PATH/config/defaults.json`.
    pub fn path(mayfly_path: &Path) -> PathBuf {
        mayfly_path.join("config").join("defaults.json")
    }

    /// Reads `defaults.json`; unknown keys are an error naming the key.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = std::fs::read_to_string(path).map_err(|e| ClientError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| {
            ClientError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            )
        })
    }

    /// Writes `defaults.json` atomically (0644).
    pub fn save(&self, path: &Path) -> Result<(), ClientError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| {
            ClientError::io(
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?;
        mayfly_keys::write_public_file(path, format!("{text}\n").as_bytes(), true)?;
        Ok(())
    }
}

/// `$MAYFLY_PATH`, else `$HOME/.mayfly`.
#[expect(
    clippy::disallowed_methods,
    reason = "MAYFLY_PATH and HOME name a folder, never a secret"
)]
pub fn mayfly_path() -> Result<PathBuf, ClientError> {
    if let Some(path) = std::env::var_os("MAYFLY_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".mayfly"))
        .ok_or_else(|| {
            ClientError::io(
                "$HOME",
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "neither MAYFLY_PATH nor HOME is set",
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_what_init_writes() {
        let dir = mayfly_testkit::temp_dir();
        let path = Defaults::path(dir.path());
        let defaults = Defaults {
            ca_url: "https://ca:9000".into(),
            fingerprint: "ab".repeat(32),
            root: dir.path().join("certs/root_ca.crt"),
            ca_config: None,
            redirect_url: None,
        };
        defaults.save(&path).unwrap();
        assert_eq!(Defaults::load(&path).unwrap(), defaults);
        std::fs::write(
            &path,
            r#"{"ca-url":"https://ca","ca-config":"/x/ca.json","fingerprint":"f","root":"/r"}"#,
        )
        .unwrap();
        assert_eq!(
            Defaults::load(&path).unwrap().ca_config,
            Some(PathBuf::from("/x/ca.json"))
        );
        std::fs::write(
            &path,
            r#"{"ca-url":"https://ca","fingerprint":"f","root":"/r","cert":1}"#,
        )
        .unwrap();
        let err = Defaults::load(&path).unwrap_err().to_string();
        assert!(err.contains("unknown field `cert`"), "{err}");
    }
}
