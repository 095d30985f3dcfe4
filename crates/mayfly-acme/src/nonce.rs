//! Replay nonces (RFC 8555 §6.5) that every instance sharing a secret accepts.
//!
//! A nonce is `base64url(expiry ‖ random ‖ HMAC-SHA256(secret, expiry ‖ random)[..16])`:
//! issuing one costs no storage and any instance can check it. Using one records it in the
//! store's nonce table (insert-if-absent, across instances and restarts), so a nonce is
//! refused only when it is forged, expired or already used. That record is the store's one
//! relaxed write ([`AcmeStore::record_nonce_use`]): it survives a process crash, and only an
//! OS crash or power loss could let a nonce used just before it be accepted once more
//! within its hour of life. Every ACME POST uses a nonce, so this spares each one an fsync.

use hmac::{KeyInit, Mac};
use mayfly_store::{AcmeStore, Store};
use zeroize::Zeroizing;

use crate::error::{AcmeError, ProblemKind};

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// How long an issued nonce stays usable, in seconds.
pub const NONCE_LIFETIME: i64 = 3600;

const PAYLOAD_LEN: usize = 8 + 16;
const TAG_LEN: usize = 16;

/// Issues and checks nonces with a shared secret.
pub(crate) struct Nonces {
    secret: Zeroizing<Vec<u8>>,
}

impl Nonces {
    pub(crate) fn new(secret: Zeroizing<Vec<u8>>) -> Self {
        Self { secret }
    }

    fn tag(&self, payload: &[u8]) -> Result<[u8; TAG_LEN], AcmeError> {
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(&self.secret)
            .map_err(|_| AcmeError::new(ProblemKind::ServerInternal, "bad nonce secret"))?;
        mac.update(payload);
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        Ok(tag)
    }

    /// A fresh nonce.
    pub(crate) fn issue(&self, now: i64) -> Result<String, AcmeError> {
        let mut bytes = Vec::with_capacity(PAYLOAD_LEN + TAG_LEN);
        bytes.extend_from_slice(&(now + NONCE_LIFETIME).to_be_bytes());
        bytes.extend_from_slice(&mayfly_keys::random_bytes::<16>());
        let tag = self.tag(&bytes)?;
        bytes.extend_from_slice(&tag);
        Ok(crate::b64(&bytes))
    }

    /// Checks a nonce and records its use; `badNonce` unless it is genuine, unexpired and
    /// unused.
    pub(crate) async fn consume(
        &self,
        nonce: &str,
        store: &Store,
        now: i64,
    ) -> Result<(), AcmeError> {
        let bad = |why: &str| AcmeError::new(ProblemKind::BadNonce, format!("nonce {why}"));
        let bytes = crate::unb64(nonce).ok_or_else(|| bad("is not base64url"))?;
        if bytes.len() != PAYLOAD_LEN + TAG_LEN {
            return Err(bad("has the wrong length"));
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let expected = self.tag(payload)?;
        if !bool::from(subtle::ConstantTimeEq::ct_eq(&expected[..], tag)) {
            return Err(bad("was not issued by this CA"));
        }
        let mut expiry = [0u8; 8];
        expiry.copy_from_slice(&payload[..8]);
        let expires_at = i64::from_be_bytes(expiry);
        if expires_at < now {
            return Err(bad("has expired"));
        }
        if !store.record_nonce_use(nonce.to_owned(), expires_at).await? {
            return Err(bad("has already been used"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forged_and_expired_nonces_fail_before_the_store() {
        let nonces = Nonces::new(Zeroizing::new(vec![7; 32]));
        let other = Nonces::new(Zeroizing::new(vec![8; 32]));
        let n = nonces.issue(1000).unwrap_or_default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { panic!("runtime") };
        rt.block_on(async {
            let dir = mayfly_testkit::temp_dir();
            let config = mayfly_store::DbConfig::sqlite(&dir.path().join("db"));
            let store = Store::open(&config).await.unwrap_or_else(|e| panic!("{e}"));
            let check = |r: Result<(), AcmeError>, want: &str| match r {
                Err(e) => assert!(e.to_string().contains(want), "{e}"),
                Ok(()) => panic!("accepted, wanted {want}"),
            };
            check(other.consume(&n, &store, 1000).await, "not issued");
            check(
                nonces.consume(&n, &store, 1000 + NONCE_LIFETIME + 1).await,
                "expired",
            );
            check(nonces.consume("AAAA", &store, 1000).await, "wrong length");
            assert!(nonces.consume(&n, &store, 1000).await.is_ok());
            check(nonces.consume(&n, &store, 1000).await, "already been used");
        });
    }
}
