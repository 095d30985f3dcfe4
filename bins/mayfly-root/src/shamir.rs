//! Shamir's secret sharing of a password, wrapped in share files an operator can check.
//!
//! The polynomial arithmetic is [`blahaj`]'s (GF(256), one random polynomial per byte, so
//! fewer than `threshold` shares say nothing about the secret). What is shared is not the
//! bare password but `key (32 random bytes) || length (u16) || password || zero padding` to a
//! multiple of 32 bytes, so a share does not even reveal the password's exact length.
//!
//! Each share file carries:
//! - `set`: a random id common to the shares of one split, so shares of two splits are not mixed;
//! - `index`, `threshold`, `shares`;
//! - `verifier`: HMAC-SHA256 under the shared key of the set id and the password. Only someone
//!   holding `threshold` shares knows the key, so the verifier is no password-guessing oracle
//!   for the holder of one share, yet a wrong combination is caught;
//! - `checksum`: the first 8 bytes of SHA-256 over all the fields above and the share value,
//!   so a mistyped or damaged share file is named rather than combined into a wrong password.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use blahaj::{Share, Sharks};
use hmac::{Hmac, KeyInit as _, Mac as _};
use mayfly_keys::Password;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

const MAGIC: &str = "v1";
const KEY_LEN: usize = 32;
const PAD_TO: usize = 32;
const VERIFIER_CONTEXT: &[u8] = b"mayfly-root password verifier v1";

/// Why shares could not be made or combined.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShareError {
    /// The requested threshold/shares pair is impossible.
    #[error("invalid split: {0}")]
    Parameters(String),
    /// The password is longer than a share can carry.
    #[error("the password is longer than 65535 bytes")]
    TooLong,
    /// A share file is malformed (a missing or unknown field, bad hex, ...).
    #[error("share file {path}: {problem}")]
    Malformed {
        /// The share file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// A share file's checksum does not match its contents: mistyped or damaged.
    #[error(
        "share file {path} (share {index}): checksum mismatch: the share was mistyped or damaged"
    )]
    Checksum {
        /// The share file.
        path: PathBuf,
        /// The index the file claims.
        index: u8,
    },
    /// A share file belongs to another split than the first one given.
    #[error("share file {path} belongs to another split (set {set}) than {first}")]
    OtherSet {
        /// The share file.
        path: PathBuf,
        /// Its set id.
        set: String,
        /// The first file given.
        first: PathBuf,
    },
    /// The same share was given twice.
    #[error("share {index} was given twice ({path})")]
    Duplicate {
        /// The share index.
        index: u8,
        /// The second file holding it.
        path: PathBuf,
    },
    /// Fewer shares than the threshold.
    #[error("{have} share(s) given, {need} needed")]
    NotEnough {
        /// Shares given.
        have: usize,
        /// The threshold.
        need: u8,
    },
    /// The shares combine to something the verifier rejects.
    #[error("the shares do not combine to the password (the verifier does not match)")]
    WrongCombination,
    /// Reading a share file failed.
    #[error("reading share file {path}: {source}")]
    Io {
        /// The share file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// One share file's contents.
#[derive(Clone)]
pub struct ShareFile {
    set: [u8; 16],
    index: u8,
    threshold: u8,
    shares: u8,
    verifier: [u8; 32],
    value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ShareFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareFile")
            .field("set", &hex::encode(self.set))
            .field("index", &self.index)
            .field("threshold", &self.threshold)
            .field("shares", &self.shares)
            .finish_non_exhaustive()
    }
}

impl ShareFile {
    /// The share's index (1..=255).
    pub fn index(&self) -> u8 {
        self.index
    }

    /// The text of the share file.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::new());
        let _ = write!(
            text,
            "# Mayfly root password share {} of {}. Any {} shares rebuild the password.\n\
             # Keep it secret. Type it back exactly; the checksum names a mistyped share.\n\
             mayfly-share: {MAGIC}\nset: {}\nindex: {}\nthreshold: {}\nshares: {}\n\
             verifier: {}\nshare: {}\nchecksum: {}\n",
            self.index,
            self.shares,
            self.threshold,
            hex::encode(self.set),
            self.index,
            self.threshold,
            self.shares,
            hex::encode(self.verifier),
            grouped_hex(&self.value),
            hex::encode(self.checksum()),
        );
        text
    }

    fn checksum(&self) -> [u8; 8] {
        let mut hash = Sha256::new();
        hash.update(MAGIC.as_bytes());
        hash.update(self.set);
        hash.update([self.index, self.threshold, self.shares]);
        hash.update(self.verifier);
        hash.update(self.value.as_slice());
        let digest = hash.finalize();
        let mut out = [0; 8];
        out.copy_from_slice(&digest[..8]);
        out
    }

    /// Parses a share file, checking its checksum. `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ShareError> {
        let bad = |problem: String| ShareError::Malformed {
            path: path.to_owned(),
            problem,
        };
        let mut fields: [Option<&str>; 8] = [None; 8];
        const NAMES: [&str; 8] = [
            "mayfly-share",
            "set",
            "index",
            "threshold",
            "shares",
            "verifier",
            "share",
            "checksum",
        ];
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("line {}: expected `name: value`", n + 1)))?;
            let slot = NAMES
                .iter()
                .position(|&known| known == name.trim())
                .ok_or_else(|| bad(format!("line {}: unknown field {:?}", n + 1, name.trim())))?;
            if fields[slot].replace(value.trim()).is_some() {
                return Err(bad(format!("field {:?} appears twice", NAMES[slot])));
            }
        }
        let field = |slot: usize| fields[slot].ok_or_else(|| bad(format!("no {:?}", NAMES[slot])));
        if field(0)? != MAGIC {
            return Err(bad(format!("unsupported version {:?}", field(0)?)));
        }
        let number = |slot: usize| {
            field(slot)?
                .parse::<u8>()
                .map_err(|_| bad(format!("{} is not a number from 0 to 255", NAMES[slot])))
        };
        let hex_field = |slot: usize| {
            let compact: String = field(slot)?
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            hex::decode(compact).map_err(|e| bad(format!("{}: {e}", NAMES[slot])))
        };
        let share = Self {
            set: to_array(hex_field(1)?, NAMES[1], path)?,
            index: number(2)?,
            threshold: number(3)?,
            shares: number(4)?,
            verifier: to_array(hex_field(5)?, NAMES[5], path)?,
            value: Zeroizing::new(hex_field(6)?),
        };
        let checksum: [u8; 8] = to_array(hex_field(7)?, NAMES[7], path)?;
        if share.checksum() != checksum {
            return Err(ShareError::Checksum {
                path: path.to_owned(),
                index: share.index,
            });
        }
        if share.index == 0 || share.threshold == 0 || share.threshold > share.shares {
            return Err(bad(format!(
                "share {} with threshold {} of {} is impossible",
                share.index, share.threshold, share.shares
            )));
        }
        Ok(share)
    }

    /// Reads and parses a share file.
    pub fn load(path: &Path) -> Result<Self, ShareError> {
        let text =
            Zeroizing::new(
                std::fs::read_to_string(path).map_err(|source| ShareError::Io {
                    path: path.to_owned(),
                    source,
                })?,
            );
        Self::parse(&text, path)
    }
}

fn to_array<const N: usize>(
    bytes: Vec<u8>,
    name: &str,
    path: &Path,
) -> Result<[u8; N], ShareError> {
    let len = bytes.len();
    bytes.try_into().map_err(|_| ShareError::Malformed {
        path: path.to_owned(),
        problem: format!("{name} has {len} bytes, not {N}"),
    })
}

fn grouped_hex(bytes: &[u8]) -> String {
    let hex = Zeroizing::new(hex::encode(bytes));
    let mut out = String::with_capacity(hex.len() * 5 / 4);
    for (i, chunk) in hex.as_bytes().chunks(8).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.extend(chunk.iter().map(|&b| char::from(b)));
    }
    out
}

fn verifier(key: &[u8; KEY_LEN], set: &[u8; 16], password: &[u8]) -> [u8; 32] {
    // HMAC zero-pads a short key to the 64-byte block: this is HMAC-SHA256 keyed by `key`.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..KEY_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256>>::new(&(*block).into());
    mac.update(VERIFIER_CONTEXT);
    mac.update(set);
    mac.update(password);
    mac.finalize().into_bytes().into()
}

/// Splits `password` into `shares` shares, any `threshold` of which rebuild it.
pub fn split(password: &Password, threshold: u8, shares: u8) -> Result<Vec<ShareFile>, ShareError> {
    if threshold == 0 || shares == 0 || threshold > shares {
        return Err(ShareError::Parameters(format!(
            "need 1 <= threshold ({threshold}) <= shares ({shares}) <= 255"
        )));
    }
    let pw = password.as_bytes();
    let len = u16::try_from(pw.len()).map_err(|_| ShareError::TooLong)?;
    let key = mayfly_keys::random_bytes::<KEY_LEN>();
    let set = mayfly_keys::random_bytes::<16>();
    let mut secret = Zeroizing::new(Vec::with_capacity(KEY_LEN + 2 + pw.len() + PAD_TO));
    secret.extend_from_slice(&key);
    secret.extend_from_slice(&len.to_be_bytes());
    secret.extend_from_slice(pw);
    let padded = secret.len().div_ceil(PAD_TO) * PAD_TO;
    secret.resize(padded, 0);
    let verifier = verifier(&key, &set, pw);
    let mut rng = mayfly_keys::os_rng();
    Ok(Sharks(threshold)
        .dealer_rng(&secret, &mut rng)
        .take(usize::from(shares))
        .map(|share| {
            let bytes = Zeroizing::new(Vec::from(&share));
            ShareFile {
                set,
                index: bytes[0],
                threshold,
                shares,
                verifier,
                value: Zeroizing::new(bytes[1..].to_vec()),
            }
        })
        .collect())
}

/// Combines share files (each with the path it came from, for error messages) back into the
/// password, refusing mixed splits, duplicates, too few shares and wrong combinations.
pub fn combine(files: &[(PathBuf, ShareFile)]) -> Result<Password, ShareError> {
    let Some((first_path, first)) = files.first() else {
        return Err(ShareError::NotEnough { have: 0, need: 1 });
    };
    let mut seen = [false; 256];
    let mut shares = Vec::with_capacity(files.len());
    for (path, file) in files {
        if file.set != first.set
            || file.verifier != first.verifier
            || file.threshold != first.threshold
            || file.value.len() != first.value.len()
        {
            return Err(ShareError::OtherSet {
                path: path.clone(),
                set: hex::encode(file.set),
                first: first_path.clone(),
            });
        }
        if std::mem::replace(&mut seen[usize::from(file.index)], true) {
            return Err(ShareError::Duplicate {
                index: file.index,
                path: path.clone(),
            });
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(file.value.len() + 1));
        bytes.push(file.index);
        bytes.extend_from_slice(&file.value);
        let share = Share::try_from(bytes.as_slice()).map_err(|e| ShareError::Malformed {
            path: path.clone(),
            problem: e.to_owned(),
        })?;
        shares.push(share);
    }
    if shares.len() < usize::from(first.threshold) {
        return Err(ShareError::NotEnough {
            have: shares.len(),
            need: first.threshold,
        });
    }
    let secret = Zeroizing::new(
        Sharks(first.threshold)
            .recover(&shares)
            .map_err(|_| ShareError::WrongCombination)?,
    );
    let (key, rest) = secret
        .split_first_chunk::<KEY_LEN>()
        .ok_or(ShareError::WrongCombination)?;
    let (len, rest) = rest
        .split_first_chunk::<2>()
        .ok_or(ShareError::WrongCombination)?;
    let password = rest
        .get(..usize::from(u16::from_be_bytes(*len)))
        .ok_or(ShareError::WrongCombination)?;
    let expected = verifier(key, &first.set, password);
    if !bool::from(expected.ct_eq(&first.verifier)) {
        return Err(ShareError::WrongCombination);
    }
    Ok(Password::from_bytes(password.to_vec()))
}

#[cfg(test)]
mod tests;
