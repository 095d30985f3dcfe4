//! `mayfly-loadgen tokens`: a file of ready-to-send POST /1.0/sign bodies, one per line.

use std::io::Write;
use std::path::Path;

use der::pem::LineEnding;
use mayfly_jwt::decrypt_jwk;
use mayfly_keys::Password;

use crate::Error;
use crate::pool::{Minter, csr_pool};

/// Reads the provisioner `name` out of `ca_config` and decrypts its key with the password in
/// `password_file`.
pub fn minter(
    ca_config: &Path,
    name: &str,
    password_file: &Path,
    audience: String,
) -> Result<Minter, Error> {
    let text = std::fs::read_to_string(ca_config).map_err(|e| Error::io(ca_config, e))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::Config(e.to_string()))?;
    let encrypted = json["authority"]["provisioners"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name && p["type"] == "JWK")
        .and_then(|p| p["encryptedKey"].as_str())
        .ok_or_else(|| Error::Provisioner(name.to_owned()))?;
    let password = Password::from_file(password_file)?;
    let jwk = decrypt_jwk(encrypted, &password).map_err(mayfly_jwt::Error::from)?;
    Ok(Minter {
        kid: jwk.thumbprint().map_err(mayfly_jwt::Error::from)?,
        key: jwk.to_private_key().map_err(mayfly_jwt::Error::from)?,
        issuer: name.to_owned(),
        audience,
    })
}

/// Writes `count` bodies `{"csr": PEM, "ott": TOKEN}` to `out`, cycling through a pool of
/// `pool` CSRs; every token is fresh (single use).
pub fn write_bodies(minter: &Minter, count: usize, pool: usize, out: &Path) -> Result<(), Error> {
    let csrs = csr_pool(pool.max(1))?;
    let pems = csrs
        .iter()
        .map(|c| {
            der::pem::encode_string("CERTIFICATE REQUEST", LineEnding::LF, &c.der)
                .map_err(|e| Error::Config(format!("PEM: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file = std::fs::File::create(out).map_err(|e| Error::io(out, e))?;
    let mut writer = std::io::BufWriter::new(file);
    for i in 0..count {
        let index = i % csrs.len();
        let body = serde_json::json!({"csr": pems[index], "ott": minter.token(&csrs[index].name)?});
        writeln!(writer, "{body}").map_err(|e| Error::io(out, e))?;
    }
    writer.flush().map_err(|e| Error::io(out, e))
}
