//! Small helpers the commands share: lifetimes, passwords, digests, output files.

use std::path::Path;

use anyhow::{Context as _, bail};
use mayfly_keys::Password;
use mayfly_template::{Certificate, CertificateProfile, ValidityPeriod};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

/// Parses a duration as step's `--not-after` takes it (`87600h`, `90m`, `1h30m`, `30d`).
pub fn parse_duration(text: &str) -> anyhow::Result<std::time::Duration> {
    let duration: std::time::Duration = mayfly_template::GoDuration::parse(text.trim())?.into();
    if duration.is_zero() {
        bail!("a validity of {text:?} is empty: give a positive duration such as 87600h");
    }
    Ok(duration)
}

/// The validity window for `not_after`: a duration from now (`87600h`) or an RFC 3339 time.
/// A template's own `notBefore`/`notAfter` are ignored: the operator states the lifetime.
pub fn validity(not_after: &str) -> anyhow::Result<ValidityPeriod> {
    if not_after.contains('T') {
        return Ok(ValidityPeriod::starting_now(std::time::Duration::ZERO).until(not_after)?);
    }
    Ok(ValidityPeriod::starting_now(parse_duration(not_after)?))
}

/// Reads a password file (one trailing newline stripped).
pub fn read_password(path: &Path) -> anyhow::Result<Password> {
    Password::from_file(path).with_context(|| format!("reading password file {}", path.display()))
}

/// A new password: from `file` when given, else asked twice on the terminal.
pub fn new_password(file: Option<&Path>, what: &str) -> anyhow::Result<Password> {
    if let Some(file) = file {
        return read_password(file);
    }
    let first = Password::prompt(&format!("Please enter the password to encrypt {what}: "))?;
    let second = Password::prompt("Please confirm the password: ")?;
    if !first.matches(&second) {
        bail!("the passwords do not match");
    }
    Ok(first)
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Refuses to go on when `path` exists: a ceremony never overwrites its outputs.
pub fn refuse_existing(path: &Path) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "{} already exists: refusing to overwrite it",
            path.display()
        );
    }
    Ok(())
}

/// Renders `template` (a file, or `default` when `None`) with `data` into a profile; also
/// returns the rendered JSON, pretty-printed, for the operator to read.
pub fn render_profile(
    template: Option<&Path>,
    default: &str,
    data: &Value,
) -> anyhow::Result<(CertificateProfile, String)> {
    let (name, text) = match template {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        ),
        None => ("built-in template".to_owned(), default.to_owned()),
    };
    let json = mayfly_template::Template::parse(&name, &text)
        .and_then(|t| t.render(data))
        .with_context(|| format!("rendering {name}"))?;
    let profile = CertificateProfile::from_json(&json)
        .with_context(|| format!("{name} did not render to a certificate profile: {json}"))?;
    let pretty = serde_json::from_str::<Value>(&json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or(json);
    Ok((profile, pretty))
}

/// What the audit binder records of a certificate.
pub fn certificate_summary(cert: &Certificate) -> anyhow::Result<Value> {
    let info = mayfly_template::inspect(cert)?;
    Ok(json!({
        "subject": info["subject"],
        "issuer": info["issuer"],
        "serialNumber": info["serialNumber"],
        "notBefore": info["notBefore"],
        "notAfter": info["notAfter"],
        "publicKey": info["publicKey"],
        "fingerprintSha256": info["fingerprintSha256"],
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs()).ok();
        assert_eq!(secs("87600h"), Some(87_600 * 3600));
        assert_eq!(secs("1h30m"), Some(5400));
        assert_eq!(secs("30d"), Some(30 * 86_400));
        for bad in ["", "h", "10", "10x", "0h", "-1h", "99999999999999999999h"] {
            assert_eq!(secs(bad), None, "{bad}");
        }
    }
}
