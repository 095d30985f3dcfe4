//! Private key files: reading every PEM format step-ca and OpenSSL write (and the same
//! structures as bare DER), writing PKCS#8 (encrypted with PBES2 when a password is given), and
//! changing a file's password.

use der::asn1::OctetStringRef;
use der::{Decode, Encode};
use pkcs8::pkcs5::pbes2;
use pkcs8::{EncryptedPrivateKeyInfoRef, ObjectIdentifier};
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::legacy::DekInfo;
use crate::{KeyError, Password, PrivateKey};

/// PBKDF2-HMAC-SHA256 iterations for keys Mayfly encrypts (OWASP's figure).
pub const PBKDF2_ITERATIONS: u32 = 600_000;
/// The most PBKDF2 iterations a key file may ask for: a hostile file must not keep a CPU busy
/// for hours (the same bound mayfly-jwt puts on a JWE's `p2c`).
pub const MAX_PBKDF2_ITERATIONS: u32 = 10_000_000;
/// The largest scrypt cost a key file may ask for: N up to 2^20 with r = 8 (1 GiB of memory).
const MAX_SCRYPT_MEMORY: u64 = 128 * 8 * (1 << 20);

/// The symmetric cipher of an encrypted key file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cipher {
    /// AES-128 in CBC mode (the default, as step writes).
    #[default]
    Aes128Cbc,
    /// AES-192 in CBC mode.
    Aes192Cbc,
    /// AES-256 in CBC mode.
    Aes256Cbc,
}

impl Cipher {
    /// Key length in bytes.
    pub(crate) fn key_len(self) -> usize {
        match self {
            Self::Aes128Cbc => 16,
            Self::Aes192Cbc => 24,
            Self::Aes256Cbc => 32,
        }
    }

    fn pbes2_scheme(self, iv: [u8; 16]) -> pbes2::EncryptionScheme {
        match self {
            Self::Aes128Cbc => pbes2::EncryptionScheme::Aes128Cbc { iv },
            Self::Aes192Cbc => pbes2::EncryptionScheme::Aes192Cbc { iv },
            Self::Aes256Cbc => pbes2::EncryptionScheme::Aes256Cbc { iv },
        }
    }
}

impl std::str::FromStr for Cipher {
    type Err = KeyError;

    /// Parses `aes128`, `aes192`, `aes256` (also `aes-128-cbc` style names).
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s.to_ascii_lowercase().as_str() {
            "aes128" | "aes-128-cbc" => Ok(Self::Aes128Cbc),
            "aes192" | "aes-192-cbc" => Ok(Self::Aes192Cbc),
            "aes256" | "aes-256-cbc" => Ok(Self::Aes256Cbc),
            other => Err(KeyError::UnsupportedAlgorithm(format!(
                "cipher {other:?} (use aes128, aes192 or aes256)"
            ))),
        }
    }
}

/// One PEM block split into its parts (or a DER file, labelled as PEM would label it).
struct PemBlock {
    label: String,
    dek_info: Option<String>,
    der: Zeroizing<Vec<u8>>,
}

const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const DES_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.7");
const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
const AES_128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES_192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const AES_256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// Reads a PEM private key: PKCS#8 (plain or PBES2-encrypted), SEC1 `EC PRIVATE KEY`, PKCS#1
/// `RSA PRIVATE KEY`, and OpenSSL's legacy `Proc-Type: 4,ENCRYPTED` encryption with AES.
/// Input without a `-----BEGIN` line is read as DER holding one of the first four
/// (`openssl pkey -outform der` and `openssl pkcs8 -outform der` write such files).
///
/// Errors are distinct: [`KeyError::PasswordRequired`], [`KeyError::WrongPassword`],
/// [`KeyError::UnsupportedLegacyCipher`] (DES, 3DES), [`KeyError::Truncated`],
/// [`KeyError::UnsupportedFormat`] (OpenSSH, cosign, ...), [`KeyError::UnsupportedAlgorithm`].
pub fn read_private_key_pem(
    pem: &[u8],
    password: Option<&Password>,
) -> Result<PrivateKey, KeyError> {
    let block = parse_key_file(pem)?;
    let Some(dek_info) = &block.dek_info else {
        return decode_der(&block.label, &block.der, password);
    };
    let dek = DekInfo::parse(dek_info)?;
    let password = password.ok_or(KeyError::PasswordRequired)?;
    let plain = dek.decrypt(password, &block.der)?;
    decode_der(&block.label, &plain, None).map_err(decryption_garbage)
}

/// Writes `key` as PEM PKCS#8: `ENCRYPTED PRIVATE KEY` (PBES2, PBKDF2-HMAC-SHA256 with
/// [`PBKDF2_ITERATIONS`] and a 16-byte salt, then `cipher`) when a password is given, plain
/// `PRIVATE KEY` otherwise. OpenSSL reads both.
pub fn write_private_key_pem(
    key: &PrivateKey,
    password: Option<&Password>,
    cipher: Cipher,
) -> Result<Zeroizing<String>, KeyError> {
    let der = key.to_pkcs8_der()?;
    let Some(password) = password else {
        return pem_encode("PRIVATE KEY", &der);
    };
    let encode_err = |e: pkcs8::pkcs5::Error| KeyError::Malformed(format!("PBES2: {e}"));
    let salt = crate::random_bytes::<16>();
    let kdf = pbes2::Pbkdf2Params::hmac_sha256(PBKDF2_ITERATIONS, &salt).map_err(encode_err)?;
    let params = pbes2::Parameters {
        kdf: kdf.into(),
        encryption: cipher.pbes2_scheme(crate::random_bytes::<16>()),
    };
    let ciphertext = params
        .encrypt(password.as_bytes(), &der)
        .map_err(encode_err)?;
    let info = EncryptedPrivateKeyInfoRef {
        encryption_algorithm: params.into(),
        encrypted_data: OctetStringRef::new(&ciphertext)
            .map_err(|e| KeyError::Malformed(format!("PBES2: {e}")))?,
    };
    let der = info
        .to_der()
        .map_err(|e| KeyError::Malformed(format!("encoding PKCS#8: {e}")))?;
    pem_encode("ENCRYPTED PRIVATE KEY", &der)
}

/// Re-encrypts a PEM private key under `new`, keeping its AES cipher unless `cipher` names
/// another (files that were not AES-encrypted get AES-128-CBC). The result is PKCS#8 PBES2,
/// whatever the input format was.
pub fn change_password(
    pem: &[u8],
    old: Option<&Password>,
    new: &Password,
    cipher: Option<Cipher>,
) -> Result<Zeroizing<String>, KeyError> {
    let key = read_private_key_pem(pem, old)?;
    let cipher = match cipher {
        Some(cipher) => cipher,
        None => encryption_cipher(pem)?.unwrap_or_default(),
    };
    write_private_key_pem(&key, Some(new), cipher)
}

/// The AES cipher a key file (PEM or DER) is encrypted with, `None` when it is not encrypted.
pub fn encryption_cipher(pem: &[u8]) -> Result<Option<Cipher>, KeyError> {
    let block = parse_key_file(pem)?;
    if let Some(dek_info) = &block.dek_info {
        return Ok(Some(DekInfo::parse(dek_info)?.cipher));
    }
    if block.label != "ENCRYPTED PRIVATE KEY" {
        return Ok(None);
    }
    match pbes2_cipher_oid(&block.der)? {
        AES_128_CBC => Ok(Some(Cipher::Aes128Cbc)),
        AES_192_CBC => Ok(Some(Cipher::Aes192Cbc)),
        AES_256_CBC => Ok(Some(Cipher::Aes256Cbc)),
        other => Err(unsupported_cipher(other)),
    }
}

fn decode_der(
    label: &str,
    der: &[u8],
    password: Option<&Password>,
) -> Result<PrivateKey, KeyError> {
    const LABELS: [&str; 4] = [
        "PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "EC PRIVATE KEY",
        "RSA PRIVATE KEY",
    ];
    if LABELS.contains(&label) {
        check_complete(der)?;
    }
    match label {
        "PRIVATE KEY" => PrivateKey::from_pkcs8_der(der),
        "ENCRYPTED PRIVATE KEY" => decrypt_pkcs8(der, password),
        "EC PRIVATE KEY" => PrivateKey::from_sec1_der(der),
        "RSA PRIVATE KEY" => {
            let key = <rsa::PrivateKey as pkcs1::DecodeRsaPrivateKey>::from_pkcs1_der(der)
                .map_err(|e| KeyError::Malformed(format!("PKCS#1 RSA key: {e}")))?;
            PrivateKey::from_rsa(key)
        }
        other => Err(KeyError::UnsupportedFormat(format!(
            "PEM block {other:?} (Mayfly reads PKCS#8, SEC1 and PKCS#1 keys)"
        ))),
    }
}

fn decrypt_pkcs8(der: &[u8], password: Option<&Password>) -> Result<PrivateKey, KeyError> {
    let oid = pbes2_cipher_oid(der)?;
    if ![AES_128_CBC, AES_192_CBC, AES_256_CBC].contains(&oid) {
        return Err(unsupported_cipher(oid));
    }
    let fixed;
    let info = match EncryptedPrivateKeyInfoRef::from_der(der) {
        Ok(info) => info,
        Err(e) => {
            fixed = fix_go_prf_params(der)
                .ok_or_else(|| KeyError::Malformed(format!("encrypted PKCS#8: {e}")))?;
            EncryptedPrivateKeyInfoRef::from_der(&fixed)
                .map_err(|e| KeyError::Malformed(format!("encrypted PKCS#8: {e}")))?
        }
    };
    check_kdf_cost(&info.encryption_algorithm)?;
    let password = password.ok_or(KeyError::PasswordRequired)?;
    let plain = info.decrypt(password.as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed) => {
            KeyError::WrongPassword
        }
        pkcs8::Error::Asn1(_) => KeyError::WrongPassword,
        other => KeyError::UnsupportedAlgorithm(format!("PKCS#8 encryption: {other}")),
    })?;
    PrivateKey::from_pkcs8_der(plain.as_bytes()).map_err(decryption_garbage)
}

/// Refuses key derivation parameters that would cost more than any honest file asks for.
fn check_kdf_cost(scheme: &pkcs8::pkcs5::EncryptionScheme) -> Result<(), KeyError> {
    use pkcs8::pkcs5::pbes2::Kdf;
    match scheme.pbes2().map(|p| &p.kdf) {
        Some(Kdf::Pbkdf2(p)) if p.iteration_count > MAX_PBKDF2_ITERATIONS => {
            Err(KeyError::Malformed(format!(
                "encrypted PKCS#8: PBKDF2 iteration count {} is above the limit {MAX_PBKDF2_ITERATIONS}",
                p.iteration_count
            )))
        }
        Some(Kdf::Scrypt(p))
            if u128::from(p.cost_parameter)
                * 128
                * u128::from(p.block_size)
                * u128::from(p.parallelization)
                > u128::from(MAX_SCRYPT_MEMORY) =>
        {
            Err(KeyError::Malformed(format!(
                "encrypted PKCS#8: scrypt cost N={} r={} p={} is above the limit",
                p.cost_parameter, p.block_size, p.parallelization
            )))
        }
        _ => Ok(()),
    }
}

/// The cipher OID inside a PKCS#8 `EncryptedPrivateKeyInfo`, read without decoding the
/// parameters fully so DES and PBES1 files get a clear error rather than "unknown OID".
fn pbes2_cipher_oid(der: &[u8]) -> Result<ObjectIdentifier, KeyError> {
    #[derive(der::Sequence)]
    struct Pbes2Params<'a> {
        kdf: AlgorithmIdentifierRef<'a>,
        cipher: AlgorithmIdentifierRef<'a>,
    }
    let malformed = |e: der::Error| KeyError::Malformed(format!("encrypted PKCS#8: {e}"));
    let outer = EncryptedOuter::from_der(der).map_err(malformed)?;
    if outer.algorithm.oid != PBES2 {
        return Err(KeyError::UnsupportedLegacyCipher(format!(
            "PKCS#5 v1.5 scheme {} (DES/RC2)",
            outer.algorithm.oid
        )));
    }
    let params = outer
        .algorithm
        .parameters
        .ok_or_else(|| KeyError::Malformed("PBES2 without parameters".into()))?;
    let params = params.to_der().map_err(malformed)?;
    let params = Pbes2Params::from_der(&params).map_err(malformed)?;
    Ok(params.cipher.oid)
}

/// The outer `EncryptedPrivateKeyInfo` (RFC 5958), without decoding the algorithm's
/// parameters: enough to recognise the structure and to name the scheme in errors.
#[derive(der::Sequence)]
struct EncryptedOuter<'a> {
    algorithm: AlgorithmIdentifierRef<'a>,
    data: &'a OctetStringRef,
}

/// Older Go versions (and so step) encode the PBKDF2 PRF's parameters as `00 00` instead of
/// NULL (`05 00`); OpenSSL 3 refuses those files. Rewrites that one pattern, same length.
fn fix_go_prf_params(der: &[u8]) -> Option<Vec<u8>> {
    // hmacWithSHA1 .. hmacWithSHA512 share this OID prefix; the last arc is 7 to 11.
    const PRF_PREFIX: [u8; 9] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02];
    let at = der
        .windows(12)
        .position(|w| w[..9] == PRF_PREFIX && (7..=11).contains(&w[9]) && w[10..] == [0, 0])?;
    let mut fixed = der.to_vec();
    fixed[at + 10] = 0x05;
    Some(fixed)
}

fn unsupported_cipher(oid: ObjectIdentifier) -> KeyError {
    match oid {
        DES_CBC => KeyError::UnsupportedLegacyCipher("DES-CBC".into()),
        DES_EDE3_CBC => KeyError::UnsupportedLegacyCipher("DES-EDE3-CBC".into()),
        other => KeyError::UnsupportedAlgorithm(format!("PBES2 cipher {other}")),
    }
}

/// After a decryption that passed the padding check, garbage means the password was wrong.
fn decryption_garbage(e: KeyError) -> KeyError {
    match e {
        KeyError::Malformed(_) | KeyError::Truncated(_) => KeyError::WrongPassword,
        other => other,
    }
}

/// Refuses DER whose outer length runs past the end of the data, naming it as truncation.
fn check_complete(der: &[u8]) -> Result<(), KeyError> {
    let mut reader =
        der::SliceReader::new(der).map_err(|e| KeyError::Malformed(format!("DER: {e}")))?;
    let header = der::Header::decode(&mut reader).map_err(|e| match e.kind() {
        der::ErrorKind::Incomplete { .. } => KeyError::Truncated("DER header cut short".into()),
        _ => KeyError::Malformed(format!("DER: {e}")),
    })?;
    let declared = header
        .encoded_len()
        .and_then(|len| len + header.length())
        .map_err(|e| KeyError::Malformed(format!("DER: {e}")))?;
    if usize::try_from(declared).unwrap_or(usize::MAX) > der.len() {
        return Err(KeyError::Truncated(format!(
            "the key declares {declared} bytes but only {} are present",
            der.len()
        )));
    }
    Ok(())
}

/// A key file as a [`PemBlock`]: PEM when it has a `-----BEGIN` line, DER otherwise.
fn parse_key_file(data: &[u8]) -> Result<PemBlock, KeyError> {
    if data.trim_ascii().is_empty() {
        return Err(KeyError::Truncated("the file is empty".into()));
    }
    if data.windows(11).any(|w| w == b"-----BEGIN ") {
        return parse_pem(data);
    }
    let not_a_key = || {
        KeyError::UnsupportedFormat(
            "neither PEM nor a DER private key (PKCS#8, SEC1 or PKCS#1)".into(),
        )
    };
    // Every DER key is a SEQUENCE; text and other binary formats stop here.
    if data.first() != Some(&0x30) {
        return Err(not_a_key());
    }
    check_complete(data)?;
    let label = if pkcs8::PrivateKeyInfoRef::from_der(data).is_ok() {
        "PRIVATE KEY"
    } else if EncryptedOuter::from_der(data).is_ok() {
        "ENCRYPTED PRIVATE KEY"
    } else if sec1::EcPrivateKey::from_der(data).is_ok() {
        "EC PRIVATE KEY"
    } else if pkcs1::RsaPrivateKeyRef::from_der(data).is_ok() {
        "RSA PRIVATE KEY"
    } else {
        return Err(not_a_key());
    };
    Ok(PemBlock {
        label: label.to_owned(),
        dek_info: None,
        der: Zeroizing::new(data.to_vec()),
    })
}

/// Splits the first PEM block into label, legacy `DEK-Info` header and DER body.
fn parse_pem(pem: &[u8]) -> Result<PemBlock, KeyError> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| KeyError::UnsupportedFormat("not a PEM file (binary data)".into()))?;
    let mut lines = text.lines().map(str::trim_end);
    let label = lines
        .by_ref()
        .find_map(|l| l.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or_else(|| KeyError::UnsupportedFormat("no -----BEGIN line: not a PEM file".into()))?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut dek_info = None;
    let mut body = Zeroizing::new(String::new());
    let mut ended = false;
    for line in lines {
        if line == end {
            ended = true;
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("DEK-Info") {
                dek_info = Some(value.trim().to_owned());
            }
            continue;
        }
        body.push_str(line.trim());
    }
    if !ended {
        return Err(KeyError::Truncated(format!("no {end} line")));
    }
    let der = base64_decode(&body)
        .ok_or_else(|| KeyError::Malformed(format!("the {label} PEM body is not valid base64")))?;
    Ok(PemBlock {
        label,
        dek_info,
        der,
    })
}

fn base64_decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    use base64ct::Encoding;
    base64ct::Base64::decode_vec(text).ok().map(Zeroizing::new)
}

fn pem_encode(label: &'static str, der: &[u8]) -> Result<Zeroizing<String>, KeyError> {
    der::pem::encode_string(label, der::pem::LineEnding::LF, der)
        .map(Zeroizing::new)
        .map_err(|e| KeyError::Malformed(format!("PEM: {e}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test assertions")]

    use super::*;

    /// An `ENCRYPTED PRIVATE KEY` whose PBKDF2 asks for `iterations` (the ciphertext is never
    /// reached when the count is refused).
    fn encrypted_with(iterations: u32) -> Zeroizing<String> {
        let salt = [7u8; 16];
        let params = pbes2::Parameters {
            kdf: pbes2::Pbkdf2Params::hmac_sha256(iterations, &salt)
                .unwrap()
                .into(),
            encryption: Cipher::Aes256Cbc.pbes2_scheme([9u8; 16]),
        };
        let info = EncryptedPrivateKeyInfoRef {
            encryption_algorithm: params.into(),
            encrypted_data: OctetStringRef::new(&[0u8; 48]).unwrap(),
        };
        pem_encode("ENCRYPTED PRIVATE KEY", &info.to_der().unwrap()).unwrap()
    }

    #[test]
    fn a_pbkdf2_cpu_bomb_is_refused_before_any_hashing() {
        let password = Password::from_bytes(b"pw".to_vec());
        let err = read_private_key_pem(encrypted_with(50_000_000).as_bytes(), Some(&password))
            .err()
            .unwrap();
        assert!(
            matches!(&err, KeyError::Malformed(m) if m.contains("iteration count 50000000")),
            "{err}"
        );
        // Within the limit, the file gets as far as the decryption (and a wrong password).
        let err = read_private_key_pem(encrypted_with(1000).as_bytes(), Some(&password))
            .err()
            .unwrap();
        assert!(matches!(err, KeyError::WrongPassword), "{err}");
    }
}
