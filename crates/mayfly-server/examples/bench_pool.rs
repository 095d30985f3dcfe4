//! Pre-mints the request pool of the `sign` load benchmark (`benches/sign.sh`): one
//! `POST /1.0/sign` body per line, each with its own one-time token, over 16 CSRs.
//!
//! `cargo run --release --example bench_pool -- CA_JSON PROVISIONER_PASSWORD_FILE HOST:PORT COUNT OUT`

use std::io::Write as _;
use std::path::Path;
use std::time::SystemTime;

use mayfly_authority::config::{CaConfig, ProvisionerConfig};
use mayfly_jwt::{TokenClaims, decrypt_jwk, mint_token};
use mayfly_keys::{KeyType, Password, PrivateKey};
use mayfly_template::{San, build_request};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, password, address, count, out] = args.as_slice() else {
        return Err(
            "usage: bench_pool CA_JSON PROVISIONER_PASSWORD_FILE HOST:PORT COUNT OUT".into(),
        );
    };
    let config = CaConfig::load(Path::new(config))?;
    let password = Password::from_file(Path::new(password))?;
    let provisioner = config
        .authority
        .provisioners
        .iter()
        .find_map(|p| match p {
            ProvisionerConfig::Jwk(jwk) if jwk.encrypted_key.is_some() => Some(jwk),
            _ => None,
        })
        .ok_or("ca.json has no JWK provisioner with an encrypted key")?;
    let jwk = decrypt_jwk(
        provisioner.encrypted_key.as_deref().unwrap_or_default(),
        &password,
    )?;
    let key = jwk.to_private_key()?;
    let kid = provisioner.key["kid"]
        .as_str()
        .ok_or("the provisioner key has no kid")?;
    let mut csrs = Vec::new();
    for i in 1..=16 {
        let name = format!("leaf{i}.bench.test");
        let leaf = PrivateKey::generate(KeyType::EcP256)?;
        let der = build_request(&name, &[San::guess(&name)], &leaf)?;
        csrs.push((
            name,
            der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)?,
        ));
    }
    let audience = format!("https://{address}/1.0/sign");
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let now = SystemTime::now();
    for i in 0..count.parse::<usize>()? {
        let (name, csr) = &csrs[i % csrs.len()];
        let claims = TokenClaims::new(&provisioner.name, name, &audience, now);
        let token = mint_token(&key, kid, &claims)?;
        writeln!(file, "{}", serde_json::json!({"csr": csr, "ott": token}))?;
    }
    file.flush()?;
    Ok(())
}
