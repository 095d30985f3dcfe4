//! Named locks shared by every instance on one database, so that work which must happen once
//! (building a CRL, seeding the registry) runs on one instance at a time.
//!
//! They are the store's CRL lock rows ([`CrlStateStore::lock_crl`]), keyed by any name: a
//! lease with an owner and an expiry, so a holder that dies frees it after
//! [`LOCK_SECONDS`].

use std::time::Duration;

use mayfly_store::{CrlStateStore, Store};

use crate::AuthorityError;

/// How long one holder may keep a lock, and how long a caller waits for it.
pub(crate) const LOCK_SECONDS: i64 = 60;

/// How often a waiting caller tries again.
const RETRY: Duration = Duration::from_millis(50);

/// Runs `work` while holding the lock `name`, waiting up to [`LOCK_SECONDS`] for another
/// holder to release it (else `Unavailable`). The lock is released however `work` ends.
///
/// Each call holds it as its own owner, so two tasks of one process exclude each other as
/// two instances do.
pub(crate) async fn while_locked<T>(
    store: &Store,
    name: &str,
    work: impl Future<Output = Result<T, AuthorityError>>,
) -> Result<T, AuthorityError> {
    let owner = hex::encode(mayfly_keys::random_bytes::<8>());
    let patience = Duration::from_secs(LOCK_SECONDS.unsigned_abs());
    let mut waited = Duration::ZERO;
    loop {
        let now = crate::now_unix();
        if store
            .lock_crl(name.to_owned(), owner.clone(), now, now + LOCK_SECONDS)
            .await?
        {
            break;
        }
        if waited > patience {
            return Err(AuthorityError::Unavailable(format!(
                "the lock {name:?} has been held elsewhere for over {LOCK_SECONDS} s"
            )));
        }
        tokio::time::sleep(RETRY).await;
        waited += RETRY;
    }
    let result = work.await;
    if let Err(e) = store.unlock_crl(name.to_owned(), owner).await {
        tracing::warn!("releasing the lock {name:?}: {e}");
    }
    result
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    #[tokio::test]
    async fn two_tasks_of_one_process_never_hold_a_lock_together() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&mayfly_store::DbConfig::sqlite(&dir.path().join("db")))
            .await
            .unwrap();
        let (inside, release) = (AtomicBool::new(false), tokio::sync::Notify::new());
        let first = while_locked(&store, "test", async {
            inside.store(true, Ordering::SeqCst);
            release.notified().await;
            inside.store(false, Ordering::SeqCst);
            Ok(())
        });
        let second = async {
            while !inside.load(Ordering::SeqCst) {
                tokio::task::yield_now().await;
            }
            let entered = while_locked(&store, "test", async { Ok(inside.load(Ordering::SeqCst)) });
            let watcher = async {
                tokio::time::sleep(RETRY * 4).await;
                release.notify_one();
            };
            let (entered, ()) = tokio::join!(entered, watcher);
            entered
        };
        let (first, overlapped) = tokio::join!(first, second);
        first.unwrap();
        assert!(
            !overlapped.unwrap(),
            "the second task entered while the first held the lock"
        );
    }
}
