//! Validating one-time tokens: every check in a fixed order, each failure its own
//! [`TokenError`] variant, and the replay check through [`TokenReplay`].

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use mayfly_keys::{PublicKey, SignatureAlgorithm};
use serde_json::Value;

use crate::token::{DEFAULT_TOKEN_LIFETIME, Operation, TokenClaims, secs, unix_seconds};
use crate::{Jwk, JwkError, TokenError, b64};

/// The clock leeway for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The largest token accepted by default, in bytes.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 16 * 1024;
/// The longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;
/// The shortest `jti` accepted: a guessable id lets a replay slip past or collide (step
/// mints 64 hex characters).
const MIN_JTI_LEN: usize = 16;

/// One key of a provisioner, with what the validator needs to know about it.
#[derive(Clone, Debug)]
pub struct ProvisionerKey {
    /// The public key that verifies the provisioner's tokens.
    pub key: PublicKey,
    /// The one `alg` the JWK pins, if it names one.
    pub alg: Option<SignatureAlgorithm>,
    /// The longest token lifetime (`exp - nbf`) accepted.
    pub max_lifetime: Duration,
}

impl ProvisionerKey {
    /// A key from the provisioner's public JWK, with the default maximum lifetime (5 min).
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, JwkError> {
        let alg = jwk
            .alg
            .as_deref()
            .map(SignatureAlgorithm::from_jws_name)
            .transpose()?;
        Ok(Self {
            key: jwk.to_public_key()?,
            alg,
            max_lifetime: DEFAULT_TOKEN_LIFETIME,
        })
    }

    /// Sets the maximum token lifetime.
    pub fn with_max_lifetime(mut self, max_lifetime: Duration) -> Self {
        self.max_lifetime = max_lifetime;
        self
    }
}

/// What a [`ProvisionerKeys`] lookup found.
#[derive(Debug)]
pub enum KeyLookup<'a> {
    /// The provisioner and its key.
    Found(&'a ProvisionerKey),
    /// No provisioner of that name.
    UnknownIssuer,
    /// The provisioner exists but has no key with that `kid`.
    UnknownKid,
}

/// Finds a provisioner's key by name (`iss`) and key id (`kid`); the authority implements it
/// over its configuration.
pub trait ProvisionerKeys {
    /// Looks up the key of provisioner `issuer` with id `kid`.
    fn find(&self, issuer: &str, kid: &str) -> KeyLookup<'_>;
}

impl<K: ProvisionerKeys + ?Sized> ProvisionerKeys for &K {
    fn find(&self, issuer: &str, kid: &str) -> KeyLookup<'_> {
        (**self).find(issuer, kid)
    }
}

/// An in-memory [`ProvisionerKeys`]: provisioner name -> kid -> key.
#[derive(Clone, Debug, Default)]
pub struct Provisioners {
    by_name: HashMap<String, HashMap<String, ProvisionerKey>>,
}

impl Provisioners {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) key `kid` of provisioner `name`.
    pub fn insert(&mut self, name: &str, kid: &str, key: ProvisionerKey) {
        self.by_name
            .entry(name.to_owned())
            .or_default()
            .insert(kid.to_owned(), key);
    }
}

impl ProvisionerKeys for Provisioners {
    fn find(&self, issuer: &str, kid: &str) -> KeyLookup<'_> {
        match self.by_name.get(issuer) {
            None => KeyLookup::UnknownIssuer,
            Some(keys) => keys
                .get(kid)
                .map_or(KeyLookup::UnknownKid, KeyLookup::Found),
        }
    }
}

/// The error a [`TokenReplay`] store returns.
pub type ReplayError = Box<dyn std::error::Error + Send + Sync>;

/// Records token ids so a token is used once. The store implements it durably (across
/// restarts and instances); [`MemoryReplay`] serves a single process.
pub trait TokenReplay {
    /// Records `jti`, kept at least until `expires_at`. `Ok(true)` on first use, `Ok(false)`
    /// when it was already recorded.
    fn record_jti(&self, jti: &str, expires_at: SystemTime) -> Result<bool, ReplayError>;
}

/// A [`TokenReplay`] in memory for one process; expired ids are pruned as new ones arrive.
#[derive(Debug, Default)]
pub struct MemoryReplay {
    seen: Mutex<HashMap<String, SystemTime>>,
}

impl TokenReplay for MemoryReplay {
    fn record_jti(&self, jti: &str, expires_at: SystemTime) -> Result<bool, ReplayError> {
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| "replay set lock poisoned".to_owned())?;
        let now = SystemTime::now();
        seen.retain(|_, until| *until >= now);
        Ok(seen.insert(jti.to_owned(), expires_at).is_none())
    }
}

/// The host names and addresses this CA answers on; `aud` must name one of them (the port is
/// not compared).
#[derive(Clone, Debug, Default)]
pub struct CaAddresses {
    hosts: HashSet<String>,
}

impl CaAddresses {
    /// The set of `names` (`ca.example.com`, `ca.example.com:9000`, `127.0.0.1`, `[::1]:443`).
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self {
            hosts: names
                .into_iter()
                .filter_map(|name| host_of(name.as_ref()))
                .collect(),
        }
    }

    fn contains(&self, host: &str) -> bool {
        self.hosts.contains(host)
    }
}

/// The host of `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT`, lower-cased; `None` if malformed.
fn host_of(authority: &str) -> Option<String> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']')?;
        match rest.strip_prefix(':') {
            Some(port) if port.parse::<u16>().is_err() => return None,
            None if !rest.is_empty() => return None,
            _ => host,
        }
    } else {
        match authority.split_once(':') {
            Some((host, port)) => port.parse::<u16>().ok().map(|_| host)?,
            None => authority,
        }
    };
    let valid = !host.is_empty() && !host.contains(['@', '/', '?', '#', ' ']);
    valid.then(|| host.to_ascii_lowercase())
}

/// What a token is checked against: the operation, this CA's addresses, the clock.
#[derive(Clone, Debug)]
pub struct ValidationContext {
    /// The operation the request performs.
    pub operation: Operation,
    /// This CA's addresses.
    pub addresses: CaAddresses,
    /// The time to check against.
    pub now: SystemTime,
    /// Clock leeway for `exp`, `nbf`, `iat`.
    pub leeway: Duration,
}

impl ValidationContext {
    /// A context for `operation` at the current time with the default 60 s leeway.
    pub fn new(operation: Operation, addresses: CaAddresses) -> Self {
        Self {
            operation,
            addresses,
            now: SystemTime::now(),
            leeway: DEFAULT_LEEWAY,
        }
    }
}

/// The claims of a token that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedClaims {
    /// The provisioner that issued the token.
    pub issuer: String,
    /// The provisioner key id.
    pub kid: String,
    /// The algorithm the token was signed with.
    pub algorithm: SignatureAlgorithm,
    /// The subject (non-empty).
    pub subject: String,
    /// The SANs the token allows (`[subject]` when the token names none).
    pub sans: Vec<String>,
    /// The audience that matched.
    pub audience: String,
    /// The root fingerprint the client pinned, if any.
    pub root_fingerprint: Option<String>,
    /// The token id, to record once.
    pub jti: String,
    /// `nbf`, if present.
    pub not_before: Option<i64>,
    /// `iat`, if present.
    pub issued_at: Option<i64>,
    /// `exp`.
    pub expires_at: i64,
}

impl ValidatedClaims {
    /// `exp` as a [`SystemTime`] (how long a replay store must keep the `jti`).
    pub fn expiry_time(&self) -> SystemTime {
        let secs = Duration::from_secs(u64::try_from(self.expires_at).unwrap_or_default());
        SystemTime::UNIX_EPOCH + secs
    }
}

/// Validates one-time tokens against a set of provisioner keys.
#[derive(Clone, Debug)]
pub struct TokenValidator<K> {
    keys: K,
    max_len: usize,
}

impl<K: ProvisionerKeys> TokenValidator<K> {
    /// A validator over `keys` with the default size limit (16 KiB).
    pub fn new(keys: K) -> Self {
        Self {
            keys,
            max_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }

    /// Sets the largest token accepted, in bytes.
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Validates `token` for `ctx`, in this order: size and syntax, alg allow-list,
    /// provisioner by `iss` + `kid`, alg against the key, signature, `exp`/`nbf`/`iat` with
    /// leeway, lifetime, `aud`, `sub`, `sans`, `jti`. The replay check is the caller's (see
    /// [`TokenValidator::validate_once`]).
    pub fn validate(
        &self,
        token: &str,
        ctx: &ValidationContext,
    ) -> Result<ValidatedClaims, TokenError> {
        if token.len() > self.max_len {
            return Err(TokenError::TooLarge {
                len: token.len(),
                max: self.max_len,
            });
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::NotCompact);
        };
        let header = b64::decode(header_b64).ok_or(TokenError::BadEncoding("header"))?;
        let header: Header =
            serde_json::from_slice(&header).map_err(|e| TokenError::BadHeader(e.to_string()))?;
        let (alg, kid) = check_header(&header)?;
        let claims = b64::decode(claims_b64).ok_or(TokenError::BadEncoding("claims"))?;
        let claims: TokenClaims =
            serde_json::from_slice(&claims).map_err(|e| TokenError::BadClaims(e.to_string()))?;
        let issuer = claims.iss.as_deref().ok_or(TokenError::MissingIssuer)?;
        let provisioner = match self.keys.find(issuer, kid) {
            KeyLookup::Found(key) => key,
            KeyLookup::UnknownIssuer => return Err(TokenError::UnknownIssuer(issuer.into())),
            KeyLookup::UnknownKid => {
                return Err(TokenError::UnknownKid {
                    issuer: issuer.into(),
                    kid: kid.into(),
                });
            }
        };
        let key_type = provisioner.key.key_type();
        if !alg.fits(key_type) {
            return Err(TokenError::AlgKeyMismatch {
                alg: alg.to_string(),
                key: key_type.to_string(),
            });
        }
        if let Some(allowed) = provisioner.alg.filter(|allowed| *allowed != alg) {
            return Err(TokenError::AlgNotAllowed {
                alg: alg.to_string(),
                allowed: allowed.to_string(),
            });
        }
        let signature = b64::decode(signature_b64).ok_or(TokenError::BadEncoding("signature"))?;
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
        provisioner
            .key
            .verify_jws(alg, signing_input.as_bytes(), &signature)
            .map_err(|_| TokenError::BadSignature)?;
        let expires_at = check_times(&claims, provisioner.max_lifetime, ctx)?;
        let audience = check_audience(claims.aud.as_ref(), ctx)?;
        let subject = match claims.sub.as_deref() {
            None => return Err(TokenError::MissingSubject),
            Some("") => return Err(TokenError::EmptySubject),
            Some(sub) => sub.to_owned(),
        };
        let sans = match claims.sans {
            Some(sans) if !sans.is_empty() => sans,
            _ => vec![subject.clone()],
        };
        if sans.iter().any(String::is_empty) {
            return Err(TokenError::EmptySan);
        }
        let jti = match claims.jti {
            Some(jti) if jti.len() > MAX_JTI_LEN => return Err(TokenError::JtiTooLong),
            Some(jti) if !jti.is_empty() && jti.chars().count() < MIN_JTI_LEN => {
                return Err(TokenError::JtiTooShort(jti.chars().count()));
            }
            Some(jti) if !jti.is_empty() => jti,
            _ => return Err(TokenError::MissingJti),
        };
        Ok(ValidatedClaims {
            issuer: issuer.to_owned(),
            kid: kid.to_owned(),
            algorithm: alg,
            subject,
            sans,
            audience,
            root_fingerprint: claims.sha,
            jti,
            not_before: claims.nbf,
            issued_at: claims.iat,
            expires_at,
        })
    }

    /// [`TokenValidator::validate`], then records the `jti` in `replay`: a second use is
    /// refused with [`TokenError::Replayed`].
    pub fn validate_once(
        &self,
        token: &str,
        ctx: &ValidationContext,
        replay: &dyn TokenReplay,
    ) -> Result<ValidatedClaims, TokenError> {
        let claims = self.validate(token, ctx)?;
        match replay.record_jti(&claims.jti, claims.expiry_time()) {
            Ok(true) => Ok(claims),
            Ok(false) => Err(TokenError::Replayed(claims.jti)),
            Err(e) => Err(TokenError::ReplayStore(e.to_string())),
        }
    }
}

/// The header members the validator looks at. A struct rather than a map so that a member
/// given twice is an error (serde refuses duplicate fields), not "the last one wins".
#[derive(serde::Deserialize)]
struct Header {
    alg: Option<Value>,
    kid: Option<Value>,
    typ: Option<Value>,
    crit: Option<Value>,
    jwk: Option<Value>,
    jku: Option<Value>,
    x5u: Option<Value>,
    x5c: Option<Value>,
}

/// Checks the header: `alg` on the allow-list, `typ`, no `crit`, no key in the header, `kid`.
fn check_header(header: &Header) -> Result<(SignatureAlgorithm, &str), TokenError> {
    let alg = check_alg(header)?;
    let key_members = [
        ("jwk", &header.jwk),
        ("jku", &header.jku),
        ("x5u", &header.x5u),
        ("x5c", &header.x5c),
    ];
    if let Some((name, _)) = key_members.iter().find(|(_, value)| value.is_some()) {
        return Err(TokenError::ForbiddenHeader(name));
    }
    match &header.kid {
        Some(Value::String(kid)) if !kid.is_empty() => Ok((alg, kid)),
        _ => Err(TokenError::MissingKid),
    }
}

/// Checks `alg` (on the allow-list), `typ` and that there is no `crit`.
fn check_alg(header: &Header) -> Result<SignatureAlgorithm, TokenError> {
    let alg = match &header.alg {
        None => return Err(TokenError::MissingAlg),
        Some(Value::String(alg)) => alg,
        Some(_) => return Err(TokenError::BadHeader("alg is not a string".into())),
    };
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::AlgNone);
    }
    if alg.to_ascii_uppercase().starts_with("HS") {
        return Err(TokenError::AlgHmac(alg.clone()));
    }
    let alg = SignatureAlgorithm::from_jws_name(alg)
        .map_err(|_| TokenError::UnsupportedAlg(alg.clone()))?;
    match &header.typ {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(other) => {
            return Err(TokenError::BadType(
                other
                    .as_str()
                    .map_or_else(|| other.to_string(), str::to_owned),
            ));
        }
    }
    if header.crit.is_some() {
        return Err(TokenError::CriticalHeader);
    }
    Ok(alg)
}

/// Validates a token whose key is the leaf certificate of its `x5c` header: step's renewal
/// token (`step ca renew` of an expired certificate, `Authorization: Bearer`). `trust` gets
/// the DER certificates of `x5c` (leaf first), checks that this CA issued the leaf and
/// returns its public key and whatever the caller wants back (the parsed leaf); then the
/// signature, `exp`/`nbf`/`iat` (lifetime at most `max_lifetime`), `aud`, `sub` and `jti`
/// are checked as for provisioner tokens. The replay check is the caller's.
pub fn validate_x5c<T>(
    token: &str,
    ctx: &ValidationContext,
    max_lifetime: Duration,
    trust: impl FnOnce(&[Vec<u8>]) -> Result<(PublicKey, T), TokenError>,
) -> Result<(T, ValidatedClaims), TokenError> {
    if token.len() > DEFAULT_MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge {
            len: token.len(),
            max: DEFAULT_MAX_TOKEN_LEN,
        });
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::NotCompact);
    };
    let header = b64::decode(header_b64).ok_or(TokenError::BadEncoding("header"))?;
    let header: Header =
        serde_json::from_slice(&header).map_err(|e| TokenError::BadHeader(e.to_string()))?;
    let alg = check_alg(&header)?;
    if let Some((name, _)) = [
        ("jwk", &header.jwk),
        ("jku", &header.jku),
        ("x5u", &header.x5u),
    ]
    .iter()
    .find(|(_, value)| value.is_some())
    {
        return Err(TokenError::ForbiddenHeader(name));
    }
    let chain = x5c_chain(header.x5c.as_ref())?;
    let claims = b64::decode(claims_b64).ok_or(TokenError::BadEncoding("claims"))?;
    let claims: TokenClaims =
        serde_json::from_slice(&claims).map_err(|e| TokenError::BadClaims(e.to_string()))?;
    let (key, trusted) = trust(&chain)?;
    let key_type = key.key_type();
    if !alg.fits(key_type) {
        return Err(TokenError::AlgKeyMismatch {
            alg: alg.to_string(),
            key: key_type.to_string(),
        });
    }
    let signature = b64::decode(signature_b64).ok_or(TokenError::BadEncoding("signature"))?;
    let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
    key.verify_jws(alg, signing_input.as_bytes(), &signature)
        .map_err(|_| TokenError::BadSignature)?;
    let expires_at = check_times(&claims, max_lifetime, ctx)?;
    let audience = check_audience(claims.aud.as_ref(), ctx)?;
    let subject = match claims.sub {
        None => return Err(TokenError::MissingSubject),
        Some(sub) if sub.is_empty() => return Err(TokenError::EmptySubject),
        Some(sub) => sub,
    };
    let jti = match claims.jti {
        Some(jti) if jti.len() > MAX_JTI_LEN => return Err(TokenError::JtiTooLong),
        Some(jti) if !jti.is_empty() => jti,
        _ => return Err(TokenError::MissingJti),
    };
    let validated = ValidatedClaims {
        issuer: claims.iss.unwrap_or_default(),
        kid: String::new(),
        algorithm: alg,
        sans: vec![subject.clone()],
        subject,
        audience,
        root_fingerprint: claims.sha,
        jti,
        not_before: claims.nbf,
        issued_at: claims.iat,
        expires_at,
    };
    Ok((trusted, validated))
}

/// The DER certificates of an `x5c` header member (RFC 7515 §4.1.6: standard base64, leaf
/// first), at most eight.
fn x5c_chain(x5c: Option<&Value>) -> Result<Vec<Vec<u8>>, TokenError> {
    let bad = |why: &str| TokenError::BadHeader(format!("x5c {why}"));
    let list = match x5c {
        None => return Err(bad("is missing")),
        Some(Value::Array(list)) if !list.is_empty() && list.len() <= 8 => list,
        Some(_) => return Err(bad("is not a list of one to eight certificates")),
    };
    list.iter()
        .map(|item| {
            let text = item.as_str().ok_or_else(|| bad("holds a non-string"))?;
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| bad("holds a certificate that is not base64"))
        })
        .collect()
}

/// Checks `exp`, `nbf`, `iat` against the clock and the lifetime against the maximum;
/// returns `exp`.
fn check_times(
    claims: &TokenClaims,
    max_lifetime: Duration,
    ctx: &ValidationContext,
) -> Result<i64, TokenError> {
    let now = unix_seconds(ctx.now);
    let leeway = secs(ctx.leeway);
    let exp = claims.exp.ok_or(TokenError::MissingExpiry)?;
    if now > exp.saturating_add(leeway) {
        return Err(TokenError::Expired { exp, now });
    }
    if let Some(nbf) = claims.nbf.filter(|nbf| *nbf > now.saturating_add(leeway)) {
        return Err(TokenError::NotYetValid { nbf, now });
    }
    if let Some(iat) = claims.iat.filter(|iat| *iat > now.saturating_add(leeway)) {
        return Err(TokenError::IssuedInFuture { iat, now });
    }
    let start = claims.nbf.or(claims.iat).ok_or(TokenError::MissingStart)?;
    if exp <= start {
        return Err(TokenError::InconsistentTimes { start, exp });
    }
    let lifetime = exp.saturating_sub(start);
    if lifetime > secs(max_lifetime) {
        return Err(TokenError::LifetimeTooLong {
            lifetime,
            max: max_lifetime.as_secs(),
        });
    }
    Ok(exp)
}

/// Finds the `aud` that names this operation on one of this CA's hosts; the error reported
/// is that of the first audience when none matches.
fn check_audience(
    aud: Option<&crate::Audience>,
    ctx: &ValidationContext,
) -> Result<String, TokenError> {
    let audiences = aud.map(crate::Audience::as_slice).unwrap_or_default();
    let mut first_error = None;
    for aud in audiences {
        match check_one_audience(aud, ctx) {
            Ok(()) => return Ok(aud.clone()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(TokenError::MissingAudience))
}

fn check_one_audience(aud: &str, ctx: &ValidationContext) -> Result<(), TokenError> {
    let bad = || TokenError::BadAudience(aud.to_owned());
    let rest = aud.strip_prefix("https://").ok_or_else(bad)?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = host_of(authority).ok_or_else(bad)?;
    let expected = ctx.operation.path();
    if !ctx.operation.accepts_path(path) {
        return Err(TokenError::WrongOperation {
            aud: aud.to_owned(),
            expected,
        });
    }
    if !ctx.addresses.contains(&host) {
        return Err(TokenError::UnknownAudienceHost(aud.to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
