//! Password-encrypted JWE (RFC 7516, PBES2 of RFC 7518 §4.8 with AES-GCM content
//! encryption): how step and Mayfly store a provisioner's private JWK.
//!
//! Built on RustCrypto (pbkdf2, aes-kw, aes-gcm) rather than josekit: josekit refuses any
//! `p2c` above 1,000,000, and Mayfly must read up to 10,000,000.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_kw::AesKw;
use aes_kw::aes::{Aes128, Aes192, Aes256};
use aes_kw::cipher::consts::U16;
use aes_kw::cipher::{BlockCipherDecrypt, BlockCipherEncrypt};
use mayfly_keys::Password;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use crate::{JweError, Jwk, b64};

/// The smallest PBES2 iteration count accepted when decrypting (RFC 7518 §4.8.1.2).
pub const MIN_P2C: u64 = 1000;
/// The largest PBES2 iteration count accepted when decrypting: more is a CPU bomb.
pub const MAX_P2C: u64 = 10_000_000;
/// The iteration count Mayfly writes.
pub const DEFAULT_P2C: u32 = 600_000;
/// The PBES2 salt length Mayfly writes, in bytes.
const SALT_LEN: usize = 16;
/// The largest JWE accepted, in bytes (an RSA-4096 private JWK is ~4 KiB of JSON).
const MAX_JWE_LEN: usize = 64 * 1024;

/// AES-GCM content encryption (`enc`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContentEncryption {
    /// A128GCM.
    A128Gcm,
    /// A192GCM.
    A192Gcm,
    /// A256GCM, what Mayfly writes.
    #[default]
    A256Gcm,
}

impl ContentEncryption {
    /// The JOSE `enc` name.
    pub fn name(self) -> &'static str {
        match self {
            Self::A128Gcm => "A128GCM",
            Self::A192Gcm => "A192GCM",
            Self::A256Gcm => "A256GCM",
        }
    }

    fn from_name(name: &str) -> Result<Self, JweError> {
        match name {
            "A128GCM" => Ok(Self::A128Gcm),
            "A192GCM" => Ok(Self::A192Gcm),
            "A256GCM" => Ok(Self::A256Gcm),
            other => Err(JweError::UnsupportedEnc(other.into())),
        }
    }

    fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A192Gcm => 24,
            Self::A256Gcm => 32,
        }
    }

    /// Seals (`seal`) or opens `msg` (ciphertext || tag when opening).
    fn crypt(
        self,
        seal: bool,
        cek: &[u8],
        iv: &[u8],
        msg: &[u8],
        aad: &[u8],
    ) -> Result<Vec<u8>, JweError> {
        use aes_gcm::aead::consts::U12;
        match self {
            Self::A128Gcm => gcm::<aes_gcm::AesGcm<Aes128, U12>>(seal, cek, iv, msg, aad),
            Self::A192Gcm => gcm::<aes_gcm::AesGcm<Aes192, U12>>(seal, cek, iv, msg, aad),
            Self::A256Gcm => gcm::<aes_gcm::AesGcm<Aes256, U12>>(seal, cek, iv, msg, aad),
        }
    }
}

fn gcm<C: Aead + KeyInit>(
    seal: bool,
    key: &[u8],
    iv: &[u8],
    msg: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>, JweError> {
    let cipher = C::new_from_slice(key).map_err(|_| JweError::Decryption)?;
    let nonce = aes_gcm::aead::Nonce::<C>::try_from(iv)
        .map_err(|_| JweError::Malformed("iv must be 12 bytes".into()))?;
    let payload = Payload { msg, aad };
    if seal {
        cipher.encrypt(&nonce, payload)
    } else {
        cipher.decrypt(&nonce, payload)
    }
    .map_err(|_| JweError::Decryption)
}

/// The PBES2 key-management algorithms (`alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
/// Named by their HMAC; the key wrap size follows (A128KW, A192KW, A256KW).
enum Pbes2 {
    Hs256,
    Hs384,
    Hs512,
}

impl Pbes2 {
    fn from_name(name: &str) -> Result<Self, JweError> {
        match name {
            "PBES2-HS256+A128KW" => Ok(Self::Hs256),
            "PBES2-HS384+A192KW" => Ok(Self::Hs384),
            "PBES2-HS512+A256KW" => Ok(Self::Hs512),
            other => Err(JweError::UnsupportedAlg(other.into())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hs256 => "PBES2-HS256+A128KW",
            Self::Hs384 => "PBES2-HS384+A192KW",
            Self::Hs512 => "PBES2-HS512+A256KW",
        }
    }

    /// Derives the key-encryption key (RFC 7518 §4.8.1.1: salt = alg || 0x00 || p2s).
    fn kek(self, password: &Password, p2s: &[u8], p2c: u32) -> Zeroizing<Vec<u8>> {
        let salt = [self.name().as_bytes(), &[0], p2s].concat();
        let pw = password.as_bytes();
        let mut kek = Zeroizing::new(vec![0u8; 16]);
        match self {
            Self::Hs256 => pbkdf2::pbkdf2_hmac::<sha2::Sha256>(pw, &salt, p2c, &mut kek),
            Self::Hs384 => {
                kek.resize(24, 0);
                pbkdf2::pbkdf2_hmac::<sha2::Sha384>(pw, &salt, p2c, &mut kek);
            }
            Self::Hs512 => {
                kek.resize(32, 0);
                pbkdf2::pbkdf2_hmac::<sha2::Sha512>(pw, &salt, p2c, &mut kek);
            }
        }
        kek
    }

    fn wrap(self, kek: &[u8], cek: &[u8]) -> Result<Vec<u8>, JweError> {
        let mut out = vec![0u8; cek.len() + 8];
        let len = self.key_wrap(true, kek, cek, &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    fn unwrap(self, kek: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, JweError> {
        let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
        let len = self.key_wrap(false, kek, wrapped, &mut out)?;
        out.truncate(len);
        Ok(out)
    }

    fn key_wrap(
        self,
        wrap: bool,
        kek: &[u8],
        input: &[u8],
        out: &mut [u8],
    ) -> Result<usize, JweError> {
        match self {
            Self::Hs256 => aes_key_wrap::<Aes128>(wrap, kek, input, out),
            Self::Hs384 => aes_key_wrap::<Aes192>(wrap, kek, input, out),
            Self::Hs512 => aes_key_wrap::<Aes256>(wrap, kek, input, out),
        }
    }
}

/// AES key wrap (RFC 3394) of `input` into `out` under `kek` (`wrap`), or the unwrap;
/// returns the output length. An unwrap failure means a wrong password or altered data.
fn aes_key_wrap<C>(wrap: bool, kek: &[u8], input: &[u8], out: &mut [u8]) -> Result<usize, JweError>
where
    C: BlockCipherEncrypt<BlockSize = U16> + BlockCipherDecrypt<BlockSize = U16> + KeyInit,
{
    let kw = AesKw::<C>::new_from_slice(kek).map_err(|_| JweError::Decryption)?;
    if wrap {
        kw.wrap_key(input, out)
            .map(<[u8]>::len)
            .map_err(|e| JweError::Malformed(format!("key wrap: {e}")))
    } else {
        kw.unwrap_key(input, out)
            .map(<[u8]>::len)
            .map_err(|_| JweError::Decryption)
    }
}

/// How [`encrypt_pbes2`] encrypts: PBES2-HS256+A128KW with `p2c` iterations, a 16-byte salt
/// and `enc` content encryption.
#[derive(Clone, Debug)]
pub struct Pbes2Options {
    /// The content encryption (A256GCM by default).
    pub enc: ContentEncryption,
    /// The PBKDF2 iteration count (600,000 by default).
    pub p2c: u32,
    /// The `cty` header (`jwk+json` by default).
    pub cty: Option<String>,
}

impl Default for Pbes2Options {
    fn default() -> Self {
        Self {
            enc: ContentEncryption::A256Gcm,
            p2c: DEFAULT_P2C,
            cty: Some("jwk+json".into()),
        }
    }
}

/// Encrypts `plaintext` with `password` into a compact JWE.
pub fn encrypt_pbes2(
    plaintext: &[u8],
    password: &Password,
    options: &Pbes2Options,
) -> Result<String, JweError> {
    if !(MIN_P2C..=MAX_P2C).contains(&u64::from(options.p2c)) {
        return Err(JweError::IterationCount(options.p2c.into()));
    }
    let alg = Pbes2::Hs256;
    let p2s = mayfly_keys::random_bytes::<SALT_LEN>();
    let mut header = json!({
        "alg": alg.name(),
        "enc": options.enc.name(),
        "p2c": options.p2c,
        "p2s": b64::encode(p2s),
    });
    if let (Some(cty), Some(map)) = (&options.cty, header.as_object_mut()) {
        map.insert("cty".into(), cty.clone().into());
    }
    let protected = b64::encode(header.to_string());
    let mut cek = Zeroizing::new(vec![0u8; options.enc.key_len()]);
    mayfly_keys::fill_random(&mut cek);
    let encrypted_key = alg.wrap(&alg.kek(password, &p2s, options.p2c), &cek)?;
    let iv = mayfly_keys::random_bytes::<12>();
    let mut sealed = options
        .enc
        .crypt(true, &cek, &iv, plaintext, protected.as_bytes())?;
    let tag = sealed.split_off(sealed.len() - 16);
    Ok([
        protected,
        b64::encode(encrypted_key),
        b64::encode(iv),
        b64::encode(sealed),
        b64::encode(tag),
    ]
    .join("."))
}

/// Encrypts a private JWK with `password` as step-ca and Mayfly store provisioner keys:
/// compact JWE, PBES2-HS256+A128KW, A256GCM, p2c 600,000, 16-byte salt, cty `jwk+json`.
pub fn encrypt_jwk(jwk: &Jwk, password: &Password) -> Result<String, JweError> {
    encrypt_pbes2(
        jwk.to_json()?.as_bytes(),
        password,
        &Pbes2Options::default(),
    )
}

/// A new P-256 provisioner key pair: the public JWK (`kid` its thumbprint) and the private
/// JWK encrypted with `password` (what a JWK provisioner's `key` and `encryptedKey` hold).
pub fn new_provisioner_key(password: &Password) -> Result<(Jwk, String), crate::Error> {
    let key = mayfly_keys::PrivateKey::generate(mayfly_keys::KeyType::EcP256)
        .map_err(crate::JwkError::from)?;
    let jwk = Jwk::from_private_key(&key)?;
    let encrypted = encrypt_jwk(&jwk, password)?;
    Ok((jwk.to_public(), encrypted))
}

/// Decrypts a JWE (compact, flattened JSON or general JSON with one recipient) encrypted
/// with a password. `p2c` outside [`MIN_P2C`]..=[`MAX_P2C`] is refused before any work.
pub fn decrypt_pbes2(jwe: &str, password: &Password) -> Result<Zeroizing<Vec<u8>>, JweError> {
    let jwe = jwe.trim();
    if jwe.len() > MAX_JWE_LEN {
        return Err(JweError::Malformed(format!(
            "{} bytes exceeds the {MAX_JWE_LEN}-byte limit",
            jwe.len()
        )));
    }
    let parts = if jwe.starts_with('{') {
        Parts::from_json(jwe)?
    } else {
        Parts::from_compact(jwe)?
    };
    let header = &parts.header;
    let text = |name: &'static str| {
        header
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| JweError::Malformed(format!("header lacks {name}")))
    };
    for unsupported in ["zip", "crit"] {
        if header.contains_key(unsupported) {
            return Err(JweError::UnsupportedHeader(unsupported.into()));
        }
    }
    let alg = Pbes2::from_name(text("alg")?)?;
    let enc = ContentEncryption::from_name(text("enc")?)?;
    let p2c = header
        .get("p2c")
        .and_then(Value::as_u64)
        .ok_or_else(|| JweError::Malformed("header lacks a numeric p2c".into()))?;
    if !(MIN_P2C..=MAX_P2C).contains(&p2c) {
        return Err(JweError::IterationCount(p2c));
    }
    let p2s = header
        .get("p2s")
        .and_then(Value::as_str)
        .and_then(b64::decode)
        .filter(|salt| salt.len() >= 8)
        .ok_or(JweError::Salt)?;
    let p2c = u32::try_from(p2c).map_err(|_| JweError::IterationCount(p2c))?;
    let cek = alg.unwrap(&alg.kek(password, &p2s, p2c), &parts.encrypted_key)?;
    if cek.len() != enc.key_len() {
        return Err(JweError::Decryption);
    }
    let sealed = [&parts.ciphertext[..], &parts.tag].concat();
    enc.crypt(false, &cek, &parts.iv, &sealed, parts.aad.as_bytes())
        .map(Zeroizing::new)
}

/// Decrypts a password-encrypted private JWK (see [`decrypt_pbes2`]).
pub fn decrypt_jwk(jwe: &str, password: &Password) -> Result<Jwk, JweError> {
    Ok(Jwk::from_json(&decrypt_pbes2(jwe, password)?)?)
}

/// Rewrites a compact JWE in the flattened JSON serialization step uses for `*_priv.jwk`
/// files.
pub fn compact_to_json(compact: &str) -> Result<String, JweError> {
    let parts: Vec<&str> = compact.trim().split('.').collect();
    let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(JweError::Malformed("a compact JWE has five parts".into()));
    };
    serde_json::to_string_pretty(&json!({
        "protected": protected,
        "encrypted_key": encrypted_key,
        "iv": iv,
        "ciphertext": ciphertext,
        "tag": tag,
    }))
    .map_err(|e| JweError::Malformed(e.to_string()))
}

/// A JWE taken apart: the merged header, the decoded parts and the GCM additional data.
struct Parts {
    header: Map<String, Value>,
    encrypted_key: Vec<u8>,
    iv: Vec<u8>,
    ciphertext: Vec<u8>,
    tag: Vec<u8>,
    aad: String,
}

fn decode_part(name: &str, text: &str) -> Result<Vec<u8>, JweError> {
    b64::decode(text).ok_or_else(|| JweError::Malformed(format!("{name} is not base64url")))
}

fn protected_header(protected: &str) -> Result<Map<String, Value>, JweError> {
    let json = decode_part("protected header", protected)?;
    serde_json::from_slice(&json).map_err(|e| JweError::Malformed(format!("protected header: {e}")))
}

impl Parts {
    fn from_compact(jwe: &str) -> Result<Self, JweError> {
        let parts: Vec<&str> = jwe.split('.').collect();
        let [protected, encrypted_key, iv, ciphertext, tag] = parts[..] else {
            return Err(JweError::Malformed(
                "neither JSON nor a compact JWE of five parts".into(),
            ));
        };
        Ok(Self {
            header: protected_header(protected)?,
            encrypted_key: decode_part("encrypted_key", encrypted_key)?,
            iv: decode_part("iv", iv)?,
            ciphertext: decode_part("ciphertext", ciphertext)?,
            tag: decode_part("tag", tag)?,
            aad: protected.to_owned(),
        })
    }

    fn from_json(jwe: &str) -> Result<Self, JweError> {
        let json: Map<String, Value> =
            serde_json::from_str(jwe).map_err(|e| JweError::Malformed(e.to_string()))?;
        let text = |map: &Map<String, Value>, name: &'static str| -> Result<String, JweError> {
            map.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| JweError::Malformed(format!("JSON JWE lacks {name}")))
        };
        let protected = text(&json, "protected")?;
        let mut header = protected_header(&protected)?;
        let mut merge = |extra: Option<&Value>| -> Result<(), JweError> {
            let Some(extra) = extra else { return Ok(()) };
            let extra = extra
                .as_object()
                .ok_or_else(|| JweError::Malformed("header is not an object".into()))?;
            for (name, value) in extra {
                if header.insert(name.clone(), value.clone()).is_some() {
                    return Err(JweError::Malformed(format!(
                        "header member {name} repeated"
                    )));
                }
            }
            Ok(())
        };
        merge(json.get("unprotected"))?;
        let encrypted_key = match json.get("recipients") {
            Some(Value::Array(recipients)) => {
                let [recipient] = &recipients[..] else {
                    return Err(JweError::Malformed(
                        "exactly one recipient is supported".into(),
                    ));
                };
                let recipient = recipient
                    .as_object()
                    .ok_or_else(|| JweError::Malformed("recipient is not an object".into()))?;
                merge(recipient.get("header"))?;
                text(recipient, "encrypted_key")?
            }
            Some(_) => return Err(JweError::Malformed("recipients is not an array".into())),
            None => {
                merge(json.get("header"))?;
                text(&json, "encrypted_key")?
            }
        };
        let aad = match json.get("aad").and_then(Value::as_str) {
            Some(aad) => format!("{protected}.{aad}"),
            None => protected.clone(),
        };
        Ok(Self {
            header,
            encrypted_key: decode_part("encrypted_key", &encrypted_key)?,
            iv: decode_part("iv", &text(&json, "iv")?)?,
            ciphertext: decode_part("ciphertext", &text(&json, "ciphertext")?)?,
            tag: decode_part("tag", &text(&json, "tag")?)?,
            aad,
        })
    }
}
