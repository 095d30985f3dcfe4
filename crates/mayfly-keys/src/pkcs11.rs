//! The PKCS#11 backend: keys that live in an HSM (SoftHSM2, YubiHSM, cloud HSMs), addressed
//! by token label and object label, used through the same [`Signer`] trait as software keys.
//!
//! PKCS#11 quirks handled here: tokens are found by label (SoftHSM2 gives slots random ids),
//! `CKA_EC_POINT` usually comes back DER-wrapped in an OCTET STRING, and raw `CKM_ECDSA`
//! signatures are `r || s` (converted to X.509's DER form).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType as CkKeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::{AuthPin, Ulong};
use der::Encode;
use sha2::{Digest, Sha256, Sha384};

use crate::{KeyError, KeyType, Password, PublicKey, SignatureAlgorithm, Signer};

/// Where a key lives in a PKCS#11 module, and the PIN to log in with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pkcs11Location {
    /// The module (shared library) to load, e.g. `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token label (`token=` in the URI).
    pub token: String,
    /// The key's label (`object=` in the URI).
    pub object: String,
    /// The file holding the user PIN (`pin-source=file:...`), if the URI names one.
    pub pin_file: Option<PathBuf>,
}

impl Pkcs11Location {
    /// Parses an RFC 7512 URI such as
    /// `pkcs11:token=ca;object=intermediate?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/etc/mayfly/pin`.
    ///
    /// `token`, `object` and `module-path` are required; `type=private` and `id` are
    /// accepted and ignored; a `pin-value` is refused (PINs belong in files, not in configs).
    pub fn from_uri(uri: &str) -> Result<Self, KeyError> {
        let invalid = |what: String| KeyError::InvalidUri(format!("{what} in {uri:?}"));
        let rest = uri
            .strip_prefix("pkcs11:")
            .ok_or_else(|| invalid("missing the pkcs11: scheme".into()))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (mut token, mut object, mut module, mut pin_file) = (None, None, None, None);
        let attributes = path.split(';').chain(query.split('&'));
        for attribute in attributes.filter(|a| !a.is_empty()) {
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| invalid(format!("attribute {attribute:?} without a value")))?;
            let value =
                percent_decode(value).ok_or_else(|| invalid(format!("bad %-escape in {name}")))?;
            match name {
                "token" => token = Some(value),
                "object" => object = Some(value),
                "module-path" => module = Some(PathBuf::from(value)),
                "pin-source" => {
                    let file = value.strip_prefix("file:").unwrap_or(&value);
                    pin_file = Some(PathBuf::from(file));
                }
                "pin-value" => {
                    return Err(invalid(
                        "pin-value (put the PIN in a file: pin-source=file:...)".into(),
                    ));
                }
                "type" | "id" => {}
                other => return Err(invalid(format!("unknown attribute {other:?}"))),
            }
        }
        Ok(Self {
            module: module.ok_or_else(|| invalid("no module-path".into()))?,
            token: token.ok_or_else(|| invalid("no token=".into()))?,
            object: object.ok_or_else(|| invalid("no object=".into()))?,
            pin_file,
        })
    }

    /// The PIN: from `pin-source` when the URI names one, else `password`.
    fn pin(&self, password: Option<&Password>) -> Result<Password, KeyError> {
        match (&self.pin_file, password) {
            (Some(file), _) => Password::from_file(file),
            (None, Some(password)) => Ok(password.clone()),
            (None, None) => Err(KeyError::Password(format!(
                "no PIN for token {:?}: add pin-source=file:... to the URI",
                self.token
            ))),
        }
    }
}

/// A signer whose private key stays inside a PKCS#11 token.
pub struct Pkcs11Signer {
    session: Mutex<Session>,
    key: ObjectHandle,
    public: PublicKey,
    algorithm: SignatureAlgorithm,
}

impl Pkcs11Signer {
    /// Logs in to the token and finds the private key `location.object` and its public key.
    ///
    /// The PIN comes from the URI's `pin-source`, or else from `password`. A wrong PIN is
    /// [`KeyError::WrongPin`].
    pub fn open(location: &Pkcs11Location, password: Option<&Password>) -> Result<Self, KeyError> {
        let session = login(location, password)?;
        let key = find_one(&session, ObjectClass::PRIVATE_KEY, &location.object)?;
        let public_handle = find_one(&session, ObjectClass::PUBLIC_KEY, &location.object)?;
        let public = read_public_key(&session, public_handle)?;
        Self::new(session, key, public)
    }

    /// Generates a key pair inside the token, labelled `location.object`: the private key is
    /// sensitive and never extractable. Refuses a label that is already taken.
    pub fn generate(
        location: &Pkcs11Location,
        password: Option<&Password>,
        key_type: KeyType,
    ) -> Result<Self, KeyError> {
        let session = login(location, password)?;
        let existing = session
            .find_objects(&[Attribute::Label(location.object.as_bytes().to_vec())])
            .map_err(ck)?;
        if !existing.is_empty() {
            return Err(KeyError::Pkcs11(format!(
                "token {:?} already holds an object labelled {:?}",
                location.token, location.object
            )));
        }
        let label = Attribute::Label(location.object.as_bytes().to_vec());
        let id = Attribute::Id(crate::random_bytes::<8>().to_vec());
        let mut public_template = vec![
            Attribute::Token(true),
            Attribute::Verify(true),
            label.clone(),
            id.clone(),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            label,
            id,
        ];
        let mechanism = match key_type {
            KeyType::EcP256 | KeyType::EcP384 => {
                let curve = if key_type == KeyType::EcP256 {
                    crate::ID_P256
                } else {
                    crate::ID_P384
                };
                let params = curve
                    .to_der()
                    .map_err(|e| KeyError::Pkcs11(format!("encoding the curve: {e}")))?;
                public_template.push(Attribute::EcParams(params));
                Mechanism::EccKeyPairGen
            }
            KeyType::Rsa(bits) => {
                KeyType::rsa(bits)?;
                public_template.push(Attribute::ModulusBits(Ulong::from(bits as u64)));
                public_template.push(Attribute::PublicExponent(vec![1, 0, 1]));
                Mechanism::RsaPkcsKeyPairGen
            }
            KeyType::Ed25519 => {
                return Err(KeyError::UnsupportedAlgorithm(
                    "Ed25519 keys in PKCS#11 tokens (use P-256, P-384 or RSA)".into(),
                ));
            }
        };
        let (public_handle, key) = session
            .generate_key_pair(&mechanism, &public_template, &private_template)
            .map_err(ck)?;
        let public = read_public_key(&session, public_handle)?;
        Self::new(session, key, public)
    }

    fn new(session: Session, key: ObjectHandle, public: PublicKey) -> Result<Self, KeyError> {
        let algorithm = public.key_type().default_signature_algorithm();
        Ok(Self {
            session: Mutex::new(session),
            key,
            public,
            algorithm,
        })
    }

    /// Whether the token reports the private key as never extractable and always sensitive.
    pub fn is_non_extractable(&self) -> Result<bool, KeyError> {
        let session = self.session()?;
        let attributes = session
            .get_attributes(
                self.key,
                &[
                    AttributeType::NeverExtractable,
                    AttributeType::AlwaysSensitive,
                ],
            )
            .map_err(ck)?;
        Ok(attributes.len() == 2
            && attributes.iter().all(|a| {
                matches!(
                    a,
                    Attribute::NeverExtractable(true) | Attribute::AlwaysSensitive(true)
                )
            }))
    }

    fn session(&self) -> Result<std::sync::MutexGuard<'_, Session>, KeyError> {
        self.session
            .lock()
            .map_err(|_| KeyError::Pkcs11("the session lock is poisoned".into()))
    }
}

impl std::fmt::Debug for Pkcs11Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Signer")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    fn public_key(&self) -> &PublicKey {
        &self.public
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let session = self.session()?;
        let sign = |mechanism: &Mechanism, data: &[u8]| {
            session
                .sign(mechanism, self.key, data)
                .map_err(|e| KeyError::Signing(format!("PKCS#11: {e}")))
        };
        match self.algorithm {
            SignatureAlgorithm::EcdsaSha256 => {
                let raw = sign(&Mechanism::Ecdsa, &Sha256::digest(message))?;
                crate::jws_signature_to_x509(self.algorithm, &raw)
            }
            SignatureAlgorithm::EcdsaSha384 => {
                let raw = sign(&Mechanism::Ecdsa, &Sha384::digest(message))?;
                crate::jws_signature_to_x509(self.algorithm, &raw)
            }
            SignatureAlgorithm::RsaPkcs1Sha256 => sign(&Mechanism::Sha256RsaPkcs, message),
            other => Err(KeyError::UnsupportedAlgorithm(format!(
                "{other} in PKCS#11"
            ))),
        }
    }
}

/// One initialized context per module per process (`C_Initialize` may run only once).
fn context(module: &Path) -> Result<Pkcs11, KeyError> {
    static CONTEXTS: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut contexts = CONTEXTS
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| KeyError::Pkcs11("the module table lock is poisoned".into()))?;
    if let Some(context) = contexts.get(module) {
        return Ok(context.clone());
    }
    let context = Pkcs11::new(module)
        .map_err(|e| KeyError::Pkcs11(format!("loading {}: {e}", module.display())))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(ck(e)),
    }
    contexts.insert(module.to_path_buf(), context.clone());
    Ok(context)
}

fn login(location: &Pkcs11Location, password: Option<&Password>) -> Result<Session, KeyError> {
    let context = context(&location.module)?;
    let slot = context
        .get_slots_with_token()
        .map_err(ck)?
        .into_iter()
        .find(|slot| {
            context
                .get_token_info(*slot)
                .is_ok_and(|info| info.label().trim_end() == location.token)
        })
        .ok_or_else(|| KeyError::Pkcs11(format!("no token labelled {:?}", location.token)))?;
    let session = context.open_rw_session(slot).map_err(ck)?;
    let pin = location.pin(password)?;
    let pin = AuthPin::from(
        String::from_utf8(pin.as_bytes().to_vec())
            .map_err(|_| KeyError::Password("the PIN is not UTF-8".into()))?,
    );
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(session),
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
            Err(KeyError::WrongPin(location.token.clone()))
        }
        Err(e) => Err(ck(e)),
    }
}

fn find_one(session: &Session, class: ObjectClass, label: &str) -> Result<ObjectHandle, KeyError> {
    let found = session
        .find_objects(&[
            Attribute::Class(class),
            Attribute::Label(label.as_bytes().to_vec()),
        ])
        .map_err(ck)?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(KeyError::Pkcs11(format!("no {class} labelled {label:?}"))),
        _ => Err(KeyError::Pkcs11(format!(
            "several objects of class {class} labelled {label:?}"
        ))),
    }
}

fn read_public_key(session: &Session, handle: ObjectHandle) -> Result<PublicKey, KeyError> {
    let attributes = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::EcParams,
                AttributeType::EcPoint,
                AttributeType::Modulus,
                AttributeType::PublicExponent,
            ],
        )
        .map_err(ck)?;
    let (mut key_type, mut params, mut point, mut modulus, mut exponent) =
        (None, None, None, None, None);
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(t) => key_type = Some(t),
            Attribute::EcParams(v) => params = Some(v),
            Attribute::EcPoint(v) => point = Some(v),
            Attribute::Modulus(v) => modulus = Some(v),
            Attribute::PublicExponent(v) => exponent = Some(v),
            _ => {}
        }
    }
    let missing = |what: &str| KeyError::Pkcs11(format!("the public key has no {what}"));
    match key_type {
        Some(CkKeyType::EC) => {
            let params = params.ok_or_else(|| missing("CKA_EC_PARAMS"))?;
            let point = unwrap_ec_point(&point.ok_or_else(|| missing("CKA_EC_POINT"))?)?;
            let curve = <der::asn1::ObjectIdentifier as der::Decode>::from_der(&params)
                .map_err(|e| KeyError::Pkcs11(format!("CKA_EC_PARAMS: {e}")))?;
            let bad_point = |e: ecdsa::Error| KeyError::Pkcs11(format!("CKA_EC_POINT: {e}"));
            match curve {
                crate::ID_P256 => Ok(PublicKey::EcP256(
                    p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad_point)?,
                )),
                crate::ID_P384 => Ok(PublicKey::EcP384(
                    p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad_point)?,
                )),
                other => Err(KeyError::UnsupportedAlgorithm(format!("EC curve {other}"))),
            }
        }
        Some(CkKeyType::RSA) => {
            let modulus = modulus.ok_or_else(|| missing("CKA_MODULUS"))?;
            let exponent = exponent.ok_or_else(|| missing("CKA_PUBLIC_EXPONENT"))?;
            let malformed = |e: der::Error| KeyError::Pkcs11(format!("RSA public key: {e}"));
            let pkcs1 = pkcs1::RsaPublicKey {
                modulus: pkcs1::UintRef::new(&modulus).map_err(malformed)?,
                public_exponent: pkcs1::UintRef::new(&exponent).map_err(malformed)?,
            };
            let der = pkcs1.to_der().map_err(malformed)?;
            let key = <rsa::PublicKey as pkcs1::DecodeRsaPublicKey>::from_pkcs1_der(&der)
                .map_err(|e| KeyError::Pkcs11(format!("RSA public key: {e}")))?;
            crate::public::check_rsa_size(rsa::traits::PublicKeyParts::n_bits_precision(&key))?;
            Ok(PublicKey::Rsa(key))
        }
        other => Err(KeyError::UnsupportedAlgorithm(format!(
            "PKCS#11 key type {other:?}"
        ))),
    }
}

/// `CKA_EC_POINT` is an OCTET STRING around the SEC1 point (SoftHSM2, most tokens); some
/// tokens return the bare point.
fn unwrap_ec_point(value: &[u8]) -> Result<Vec<u8>, KeyError> {
    match <der::asn1::OctetString as der::Decode>::from_der(value) {
        Ok(inner) if inner.as_bytes().first() == Some(&4) => Ok(inner.as_bytes().to_vec()),
        _ if value.first() == Some(&4) => Ok(value.to_vec()),
        _ => Err(KeyError::Pkcs11(
            "CKA_EC_POINT is not an uncompressed point".into(),
        )),
    }
}

fn ck(e: CkError) -> KeyError {
    KeyError::Pkcs11(e.to_string())
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_parse_and_bad_ones_are_named() {
        let loc = Pkcs11Location::from_uri(
            "pkcs11:token=ca%20token;object=intermediate;type=private?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin",
        )
        .unwrap();
        assert_eq!(loc.token, "ca token");
        assert_eq!(loc.object, "intermediate");
        assert_eq!(loc.module, Path::new("/usr/lib/softhsm/libsofthsm2.so"));
        assert_eq!(loc.pin_file.as_deref(), Some(Path::new("/run/pin")));
        for bad in [
            "pkcs11:object=x?module-path=/m",
            "pkcs11:token=t;object=x",
            "pkcs11:token=t;object=x?module-path=/m&pin-value=1234",
            "pkcs11:token=t;object=x;colour=red?module-path=/m",
            "file:/key.pem",
        ] {
            assert!(
                matches!(Pkcs11Location::from_uri(bad), Err(KeyError::InvalidUri(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn ec_points_are_unwrapped_from_their_octet_string() {
        let point = [4u8; 65];
        let mut wrapped = vec![4, 65];
        wrapped.extend_from_slice(&point);
        assert_eq!(unwrap_ec_point(&wrapped).unwrap(), point);
        assert_eq!(unwrap_ec_point(&point).unwrap(), point);
    }
}
