//! The errors of this crate: one top-level [`Error`] fed by one enum per area.

use mayfly_keys::KeyError;

/// Every error of this crate, by area. Functions return the area's own enum; this one lets a
/// caller hold any of them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A JWK could not be read, written or converted.
    #[error(transparent)]
    Jwk(#[from] JwkError),
    /// A JWE could not be encrypted or decrypted.
    #[error(transparent)]
    Jwe(#[from] JweError),
    /// A one-time token could not be minted or was refused.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// An ACME JWS was refused.
    #[error(transparent)]
    Jws(#[from] JwsError),
}

/// A JWK that cannot be read, written or converted to a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwkError {
    /// The JSON is not a JWK.
    #[error("malformed JWK: {0}")]
    Malformed(String),
    /// A member the key type needs is missing.
    #[error("JWK of kty {kty} lacks the {member:?} member")]
    MissingMember {
        /// The key type.
        kty: String,
        /// The missing member.
        member: &'static str,
    },
    /// The key type or curve is not one Mayfly supports.
    #[error("unsupported JWK: {0}")]
    Unsupported(String),
    /// The private members do not match the public ones.
    #[error("the JWK's private key does not match its public key")]
    KeyMismatch,
    /// A private key was needed but the JWK is public only.
    #[error("the JWK holds no private key")]
    NotPrivate,
    /// The key library refused the key.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A JWE that cannot be encrypted or decrypted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JweError {
    /// Neither a compact nor a JSON serialization, or a part is not base64url.
    #[error("malformed JWE: {0}")]
    Malformed(String),
    /// The key-management algorithm is not PBES2.
    #[error(
        "unsupported JWE alg {0:?} (only PBES2-HS256+A128KW, PBES2-HS384+A192KW, PBES2-HS512+A256KW)"
    )]
    UnsupportedAlg(String),
    /// The content encryption is not AES-GCM.
    #[error("unsupported JWE enc {0:?} (only A128GCM, A192GCM, A256GCM)")]
    UnsupportedEnc(String),
    /// A header member Mayfly does not implement (`zip`, `crit`).
    #[error("unsupported JWE header member {0:?}")]
    UnsupportedHeader(String),
    /// The PBES2 iteration count is outside the accepted range (a huge count is a CPU bomb).
    #[error("PBES2 iteration count p2c {0} is outside {min}..={max}", min = crate::jwe::MIN_P2C, max = crate::jwe::MAX_P2C)]
    IterationCount(u64),
    /// The PBES2 salt is missing or shorter than 8 bytes.
    #[error("PBES2 salt p2s is missing or shorter than 8 bytes")]
    Salt,
    /// Key unwrap or the GCM tag failed: the password is wrong or the JWE was altered.
    #[error("JWE decryption failed: wrong password or altered data")]
    Decryption,
    /// The plaintext is not what was expected (not a JWK).
    #[error("decrypted JWE content: {0}")]
    Content(#[from] JwkError),
}

/// A one-time token that could not be minted or was refused; each check has its own variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is larger than the validator accepts.
    #[error("token of {len} bytes exceeds the {max}-byte limit")]
    TooLarge {
        /// Size of the token.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not three dot-separated parts.
    #[error("token is not a compact JWS (three dot-separated parts)")]
    NotCompact,
    /// A part is not base64url.
    #[error("token {0} is not base64url")]
    BadEncoding(&'static str),
    /// The header is not a JSON object of the expected shape.
    #[error("token header: {0}")]
    BadHeader(String),
    /// The header has no `alg`.
    #[error("token header has no alg")]
    MissingAlg,
    /// `alg` is `none`.
    #[error("token alg \"none\" is refused")]
    AlgNone,
    /// `alg` is an HMAC (`HS256`, ...): a public key must never serve as a MAC secret.
    #[error("token alg {0:?} (HMAC) is refused")]
    AlgHmac(String),
    /// `alg` is not one Mayfly accepts.
    #[error("token alg {0:?} is not supported")]
    UnsupportedAlg(String),
    /// `typ` is present and not `JWT`.
    #[error("token typ {0:?} is not JWT")]
    BadType(String),
    /// The header carries `crit`, which Mayfly does not implement.
    #[error("token header carries crit, which is not supported")]
    CriticalHeader,
    /// The header carries a key or a key URL (`jwk`, `jku`, `x5u`, `x5c`): the key comes from
    /// the provisioner, never from the token.
    #[error("token header member {0:?} is refused: the key comes from the provisioner")]
    ForbiddenHeader(&'static str),
    /// The certificate of an `x5c` token is not one this CA issued.
    #[error("token certificate: {0}")]
    UntrustedCertificate(String),
    /// The header has no `kid`.
    #[error("token header has no kid")]
    MissingKid,
    /// The claims are not a JSON object of the expected shape.
    #[error("token claims: {0}")]
    BadClaims(String),
    /// No `iss` claim.
    #[error("token has no iss")]
    MissingIssuer,
    /// No provisioner of that name.
    #[error("unknown provisioner {0:?}")]
    UnknownIssuer(String),
    /// The provisioner has no key with that `kid`.
    #[error("provisioner {issuer:?} has no key {kid:?}")]
    UnknownKid {
        /// The provisioner.
        issuer: String,
        /// The key id.
        kid: String,
    },
    /// The header `alg` cannot be used with the provisioner's key type.
    #[error("token alg {alg} does not fit the provisioner's {key} key")]
    AlgKeyMismatch {
        /// The header alg.
        alg: String,
        /// The key type.
        key: String,
    },
    /// The provisioner's JWK pins another `alg`.
    #[error("token alg {alg} is not the provisioner key's alg {allowed}")]
    AlgNotAllowed {
        /// The header alg.
        alg: String,
        /// The alg the JWK names.
        allowed: String,
    },
    /// The signature does not verify.
    #[error("token signature does not verify")]
    BadSignature,
    /// No `exp` claim.
    #[error("token has no exp")]
    MissingExpiry,
    /// `exp` is past (beyond the leeway).
    #[error("token expired at {exp} (now {now})")]
    Expired {
        /// The `exp` claim.
        exp: i64,
        /// The validator's clock.
        now: i64,
    },
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not valid before {nbf} (now {now})")]
    NotYetValid {
        /// The `nbf` claim.
        nbf: i64,
        /// The validator's clock.
        now: i64,
    },
    /// `iat` is in the future (beyond the leeway).
    #[error("token issued in the future at {iat} (now {now})")]
    IssuedInFuture {
        /// The `iat` claim.
        iat: i64,
        /// The validator's clock.
        now: i64,
    },
    /// Neither `nbf` nor `iat`: the lifetime cannot be bounded.
    #[error("token has neither nbf nor iat")]
    MissingStart,
    /// `exp` is not after `nbf`/`iat`.
    #[error("token exp {exp} is not after its start {start}")]
    InconsistentTimes {
        /// `nbf`, or `iat` without it.
        start: i64,
        /// The `exp` claim.
        exp: i64,
    },
    /// `exp - nbf` (or `exp - iat`) is longer than the provisioner allows.
    #[error("token lifetime {lifetime}s exceeds the provisioner's maximum of {max}s")]
    LifetimeTooLong {
        /// The token's lifetime in seconds.
        lifetime: i64,
        /// The maximum in seconds.
        max: u64,
    },
    /// No `aud` claim.
    #[error("token has no aud")]
    MissingAudience,
    /// An `aud` that is not `https://HOST[:PORT]/1.0/OPERATION`.
    #[error("token aud {0:?} is not an https://HOST[:PORT]/1.0/... URL")]
    BadAudience(String),
    /// The `aud` names another operation.
    #[error("token aud {aud:?} is not for {expected}")]
    WrongOperation {
        /// The audience.
        aud: String,
        /// The path this operation expects.
        expected: &'static str,
    },
    /// The `aud` host is not one of this CA's addresses.
    #[error("token aud {0:?} names a host that is not this CA")]
    UnknownAudienceHost(String),
    /// No `sub` claim.
    #[error("token has no sub")]
    MissingSubject,
    /// `sub` is empty.
    #[error("token sub is empty")]
    EmptySubject,
    /// A `sans` entry is empty.
    #[error("token sans holds an empty name")]
    EmptySan,
    /// No `jti` claim, or an empty one.
    #[error("token has no jti")]
    MissingJti,
    /// `jti` is shorter than 16 characters (its length).
    #[error("token jti is {0} characters long; at least 16 are required")]
    JtiTooShort(usize),
    /// `jti` is longer than 256 characters.
    #[error("token jti is longer than 256 characters")]
    JtiTooLong,
    /// The `jti` was already used.
    #[error("token jti {0:?} was already used")]
    Replayed(String),
    /// The replay store failed.
    #[error("token replay store: {0}")]
    ReplayStore(String),
    /// Minting failed in the signer.
    #[error("signing the token: {0}")]
    Signing(#[from] KeyError),
}

/// An ACME JWS (RFC 8555 §6.2) or external account binding (§7.3.4) that was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// The request body exceeds the size limit.
    #[error("JWS of {0} bytes is too large")]
    TooLarge(usize),
    /// Not a flattened JSON JWS, or a part is not base64url.
    #[error("malformed JWS: {0}")]
    Malformed(String),
    /// An unprotected `header` is present (RFC 8555 §6.2 forbids it).
    #[error("JWS has an unprotected header")]
    UnprotectedHeader,
    /// A required protected header member is missing.
    #[error("JWS protected header lacks {0:?}")]
    MissingHeader(&'static str),
    /// Both or neither of `jwk` and `kid`.
    #[error("JWS protected header must hold exactly one of jwk and kid")]
    KeyChoice,
    /// `alg` is `none`, a MAC or unknown.
    #[error("JWS alg {0:?} is not accepted")]
    BadAlg(String),
    /// The alg cannot be used with the key.
    #[error("JWS alg {alg} does not fit a {key} key")]
    AlgKeyMismatch {
        /// The header alg.
        alg: String,
        /// The key type.
        key: String,
    },
    /// The embedded JWK is unusable.
    #[error(transparent)]
    Jwk(#[from] JwkError),
    /// The signature (or MAC) does not verify.
    #[error("JWS signature does not verify")]
    BadSignature,
    /// The JWS was signed with `kid` where the operation needs `jwk`, or the reverse.
    #[error("JWS must be signed with {0}")]
    WrongKeyKind(&'static str),
    /// The EAB `url` differs from the outer JWS's `url`.
    #[error("external account binding url {inner:?} differs from {outer:?}")]
    UrlMismatch {
        /// The EAB url.
        inner: String,
        /// The outer url.
        outer: String,
    },
    /// The EAB protected header carries a nonce (RFC 8555 §7.3.4 forbids it).
    #[error("external account binding must not carry a nonce")]
    EabNonce,
    /// The EAB payload is not the account key.
    #[error("external account binding payload is not the account key")]
    EabKeyMismatch,
}
