//! ACME (RFC 8555) state: accounts, orders, authorizations, challenges, nonces, EAB keys.
//!
//! Every object is its own row with an optimistic-concurrency revision, so two requests for
//! one account never overwrite each other's orders (no JSON list on the account).
//!
//! Durability. Accounts are written durably, and so is every status that takes permission
//! back (`deactivated`, `revoked`) and an order turning `valid`, which happens in the
//! certificate's own transaction ([`crate::Consumed::AcmeOrder`]). Every other step of an
//! order or authorization (`pending`, `ready`, `processing`, a validation's `valid` or
//! `invalid`, an expiry) is a relaxed write ([`Durability::Relaxed`]): it survives a process
//! crash, and an OS crash or power loss can only set the object back a step, which the client
//! redoes (a lost validation is validated again; nothing is granted that was not). Commits
//! reach the disk in order (SQLite's WAL, PostgreSQL's commit log), so the durable commit of a
//! certificate also makes every step before it durable. An ACME order so costs one disk
//! flush.

use crate::certs::MAX_KEY_LEN;
use crate::error::{StoreError, check_len};
use crate::sql::{Row, Statement};
use crate::store::{Durability, Store};

/// The kinds of ACME objects, each in its own table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcmeKind {
    /// Accounts; `owner` is the account key's JWK thumbprint (unique).
    Account,
    /// Orders; `owner` is the account id.
    Order,
    /// Authorizations; `owner` is the account id.
    Authorization,
    /// Challenges; `owner` is the authorization id.
    Challenge,
}

impl AcmeKind {
    fn table(self) -> &'static str {
        match self {
            Self::Account => "acme_accounts",
            Self::Order => "acme_orders",
            Self::Authorization => "acme_authzs",
            Self::Challenge => "acme_challenges",
        }
    }

    /// How durable a write leaving an object of this kind at `status` must be: see the
    /// module documentation.
    fn durability(self, status: &str) -> Durability {
        let withdraws = matches!(status, "deactivated" | "revoked");
        let links_certificate = self == Self::Order && status == "valid";
        if self == Self::Account || withdraws || links_certificate {
            Durability::Full
        } else {
            Durability::Relaxed
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Account => "ACME account",
            Self::Order => "ACME order",
            Self::Authorization => "ACME authorization",
            Self::Challenge => "ACME challenge",
        }
    }
}

/// One ACME object. The protocol fields live in `data` (JSON, owned by the ACME crate);
/// the columns the store queries on are kept apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcmeObject {
    /// Its id (the last segment of its URL).
    pub id: String,
    /// The id it belongs to (see [`AcmeKind`]).
    pub owner: String,
    /// Its RFC 8555 status (`pending`, `valid`, ...).
    pub status: String,
    /// When it expires, unix seconds (0: never).
    pub expires_at: i64,
    /// Its JSON document.
    pub data: String,
    /// Bumped by every update; pass it back to [`AcmeStore::update_object`].
    pub revision: i64,
}

/// An external account binding key issued to an operator. The HMAC key is zeroized on drop
/// and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, zeroize::ZeroizeOnDrop)]
pub struct EabKey {
    /// The key id the client sends.
    pub key_id: String,
    /// The ACME provisioner it belongs to.
    pub provisioner: String,
    /// The HMAC key.
    pub hmac_key: Vec<u8>,
    /// The account it was bound to, once used.
    pub bound_account: Option<String>,
}

impl std::fmt::Debug for EabKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EabKey")
            .field("key_id", &self.key_id)
            .field("provisioner", &self.provisioner)
            .field("bound_account", &self.bound_account)
            .finish_non_exhaustive()
    }
}

/// ACME state.
pub trait AcmeStore {
    /// Creates an object; an existing id (or account thumbprint) is
    /// [`StoreError::AlreadyExists`]. The stored revision starts at 1. Durable for accounts
    /// and final statuses, relaxed otherwise (module documentation).
    fn create_object(
        &self,
        kind: AcmeKind,
        object: AcmeObject,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Creates several objects in one transaction (a new order and its authorizations):
    /// all or none. Durable if any of them must be (see [`AcmeStore::create_object`]).
    fn create_objects(
        &self,
        objects: Vec<(AcmeKind, AcmeObject)>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The object with this id.
    fn object(
        &self,
        kind: AcmeKind,
        id: &str,
    ) -> impl Future<Output = Result<Option<AcmeObject>, StoreError>> + Send;
    /// The objects owned by `owner` (an account's orders, an authorization's challenges;
    /// for accounts, the account with this key thumbprint), oldest first.
    fn objects_of(
        &self,
        kind: AcmeKind,
        owner: &str,
    ) -> impl Future<Output = Result<Vec<AcmeObject>, StoreError>> + Send;
    /// Replaces status and data if the stored revision is still `object.revision`;
    /// `Ok(false)` when someone else updated it first (re-read and retry). Durable for
    /// accounts and final statuses, relaxed otherwise (module documentation).
    fn update_object(
        &self,
        kind: AcmeKind,
        object: AcmeObject,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Records the use of a replay nonce, kept until `expires_at` (then pruned): `Ok(true)`
    /// on first use, `Ok(false)` when it was used before (refuse the request), across
    /// instances and restarts.
    ///
    /// Like the transient ACME steps this write is relaxed: it survives a process crash (SIGKILL
    /// included) but an OS crash or power loss can drop the last uses recorded, so such a
    /// nonce could be accepted once more before it expires. On SQLite it is acknowledged
    /// without waiting for a WAL flush, and the next durable write's flush takes it to disk
    /// too; on PostgreSQL it commits with `synchronous_commit = off`; on
    /// MySQL/MariaDB it is a plain write, as durable as the server's settings make it.
    fn record_nonce_use(
        &self,
        nonce: String,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Stores a new EAB key.
    fn add_eab_key(&self, key: EabKey) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The EAB key with this id.
    fn eab_key(
        &self,
        key_id: &str,
    ) -> impl Future<Output = Result<Option<EabKey>, StoreError>> + Send;
    /// Creates an account (durably), bound to the unused EAB key `eab_key_id` if given, in
    /// one transaction: [`StoreError::Changed`] when that key is missing or already bound,
    /// [`StoreError::AlreadyExists`] when the id or key thumbprint is taken; either way
    /// nothing is stored and the EAB key stays as it was.
    fn create_account(
        &self,
        account: AcmeObject,
        eab_key_id: Option<String>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The EAB keys of ACME provisioner `provisioner`, by key id.
    fn eab_keys(
        &self,
        provisioner: &str,
    ) -> impl Future<Output = Result<Vec<EabKey>, StoreError>> + Send;
    /// Deletes the EAB key `key_id` of `provisioner`: `Ok(false)` if there was none.
    fn delete_eab_key(
        &self,
        provisioner: String,
        key_id: String,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

fn eab_from_row(r: &Row) -> Result<EabKey, StoreError> {
    Ok(EabKey {
        key_id: r.text(0)?,
        provisioner: r.text(1)?,
        hmac_key: r.blob(2)?,
        bound_account: r.opt_text(3)?,
    })
}

fn object_from_row(row: &Row) -> Result<AcmeObject, StoreError> {
    Ok(AcmeObject {
        id: row.text(0)?,
        owner: row.text(1)?,
        status: row.text(2)?,
        expires_at: row.int(3)?,
        data: row.text(4)?,
        revision: row.int(5)?,
    })
}

/// The columns [`object_from_row`] reads, in its order.
const OBJECT_COLUMNS: &str = "id, owner, status, expires_at, data, revision";

pub(crate) fn check_object(o: &AcmeObject) -> Result<(), StoreError> {
    check_len("id", &o.id, MAX_KEY_LEN)?;
    check_len("owner", &o.owner, MAX_KEY_LEN)?;
    check_len("status", &o.status, MAX_KEY_LEN)
}

/// Inserts `object` (revision 1): [`StoreError::AlreadyExists`] when its id (or, for an
/// account, its key thumbprint) is taken.
async fn insert_object(
    c: &mut dyn crate::sql::WriteConn,
    d: crate::dialect::Dialect,
    kind: AcmeKind,
    object: &AcmeObject,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT IGNORE INTO {} (id, owner, status, expires_at, data, revision, created_at) \
         VALUES (?, ?, ?, ?, ?, 1, ?)",
        kind.table()
    );
    let n = c
        .exec(
            d.statement(sql)
                .bind(&object.id)
                .bind(&object.owner)
                .bind(&object.status)
                .bind(object.expires_at)
                .bind(&object.data)
                .bind(crate::now()),
        )
        .await?;
    if n == 0 {
        return Err(StoreError::AlreadyExists {
            what: kind.what(),
            key: object.id.clone(),
        });
    }
    Ok(())
}

/// Writes `object` over its row if the row still has `object.revision` (bumping it);
/// returns whether it did.
pub(crate) async fn update_row(
    c: &mut dyn crate::sql::WriteConn,
    d: crate::dialect::Dialect,
    kind: AcmeKind,
    object: &AcmeObject,
) -> Result<bool, StoreError> {
    let sql = format!(
        "UPDATE {} SET status = ?, expires_at = ?, data = ?, \
         revision = revision + 1 WHERE id = ? AND revision = ?",
        kind.table()
    );
    let n = c
        .exec(
            d.statement(sql)
                .bind(&object.status)
                .bind(object.expires_at)
                .bind(&object.data)
                .bind(&object.id)
                .bind(object.revision),
        )
        .await?;
    Ok(n == 1)
}

impl AcmeStore for Store {
    async fn create_object(&self, kind: AcmeKind, object: AcmeObject) -> Result<(), StoreError> {
        self.create_objects(vec![(kind, object)]).await
    }

    async fn create_objects(&self, objects: Vec<(AcmeKind, AcmeObject)>) -> Result<(), StoreError> {
        for (_, object) in &objects {
            check_object(object)?;
        }
        let d = self.dialect();
        let durable = objects
            .iter()
            .any(|(kind, object)| kind.durability(&object.status) == Durability::Full);
        let durability = if durable {
            Durability::Full
        } else {
            Durability::Relaxed
        };
        self.write_with(durability, move |c| {
            let objects = objects.clone();
            Box::pin(async move {
                for (kind, object) in &objects {
                    insert_object(c, d, *kind, object).await?;
                }
                Ok(())
            })
        })
        .await
    }

    async fn object(&self, kind: AcmeKind, id: &str) -> Result<Option<AcmeObject>, StoreError> {
        let sql = crate::select(
            self.dialect(),
            OBJECT_COLUMNS,
            &format!("{} WHERE id = ?", kind.table()),
        );
        let row = Statement::new(sql).bind(id).fetch_optional(self).await?;
        row.as_ref().map(object_from_row).transpose()
    }

    async fn objects_of(&self, kind: AcmeKind, owner: &str) -> Result<Vec<AcmeObject>, StoreError> {
        let sql = crate::select(
            self.dialect(),
            OBJECT_COLUMNS,
            &format!("{} WHERE owner = ? ORDER BY created_at, id", kind.table()),
        );
        let rows = Statement::new(sql).bind(owner).fetch_all(self).await?;
        rows.iter().map(object_from_row).collect()
    }

    async fn update_object(&self, kind: AcmeKind, object: AcmeObject) -> Result<bool, StoreError> {
        check_object(&object)?;
        let d = self.dialect();
        let durability = kind.durability(&object.status);
        self.write_with(durability, move |c| {
            let object = object.clone();
            Box::pin(async move { update_row(c, d, kind, &object).await })
        })
        .await
    }

    async fn record_nonce_use(&self, nonce: String, expires_at: i64) -> Result<bool, StoreError> {
        check_len("nonce", &nonce, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write_with(Durability::Relaxed, move |c| {
            let nonce = nonce.clone();
            Box::pin(async move {
                let n = c
                    .exec(
                        d.statement(
                            "INSERT IGNORE INTO acme_nonces (nonce, expires_at) VALUES (?, ?)",
                        )
                        .bind(&nonce)
                        .bind(expires_at),
                    )
                    .await?;
                Ok(n == 1)
            })
        })
        .await
    }

    async fn add_eab_key(&self, key: EabKey) -> Result<(), StoreError> {
        check_len("key id", &key.key_id, MAX_KEY_LEN)?;
        check_len("provisioner", &key.provisioner, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let key = key.clone();
            Box::pin(async move {
                let n = c
                    .exec(
                        d.statement(
                            "INSERT IGNORE INTO acme_eab_keys (key_id, provisioner, hmac_key, \
                             bound_account, created_at) VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(&key.key_id)
                        .bind(&key.provisioner)
                        .bind(&key.hmac_key)
                        .bind(key.bound_account.as_deref())
                        .bind(crate::now()),
                    )
                    .await?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists {
                        what: "EAB key",
                        key: key.key_id.clone(),
                    });
                }
                Ok(())
            })
        })
        .await
    }

    async fn eab_key(&self, key_id: &str) -> Result<Option<EabKey>, StoreError> {
        let row = self
            .dialect()
            .statement(
                "SELECT key_id, provisioner, hmac_key, bound_account FROM acme_eab_keys \
             WHERE key_id = ?",
            )
            .bind(key_id)
            .fetch_optional(self)
            .await?;
        row.as_ref().map(eab_from_row).transpose()
    }

    async fn eab_keys(&self, provisioner: &str) -> Result<Vec<EabKey>, StoreError> {
        let rows = self
            .dialect()
            .statement(
                "SELECT key_id, provisioner, hmac_key, bound_account FROM acme_eab_keys \
             WHERE provisioner = ? ORDER BY key_id",
            )
            .bind(provisioner)
            .fetch_all(self)
            .await?;
        rows.iter().map(eab_from_row).collect()
    }

    async fn delete_eab_key(
        &self,
        provisioner: String,
        key_id: String,
    ) -> Result<bool, StoreError> {
        let d = self.dialect();
        self.write(move |c| {
            let (provisioner, key_id) = (provisioner.clone(), key_id.clone());
            Box::pin(async move {
                let n = c
                    .exec(
                        d.statement(
                            "DELETE FROM acme_eab_keys WHERE provisioner = ? AND key_id = ?",
                        )
                        .bind(&provisioner)
                        .bind(&key_id),
                    )
                    .await?;
                Ok(n == 1)
            })
        })
        .await
    }

    async fn create_account(
        &self,
        account: AcmeObject,
        eab_key_id: Option<String>,
    ) -> Result<(), StoreError> {
        check_object(&account)?;
        let d = self.dialect();
        self.write(move |c| {
            let (account, eab_key_id) = (account.clone(), eab_key_id.clone());
            Box::pin(async move {
                if let Some(key_id) = eab_key_id {
                    let bound = c
                        .exec(
                            d.statement(
                                "UPDATE acme_eab_keys SET bound_account = ? \
                                 WHERE key_id = ? AND bound_account IS NULL",
                            )
                            .bind(&account.id)
                            .bind(&key_id),
                        )
                        .await?;
                    if bound != 1 {
                        return Err(StoreError::Changed {
                            what: "EAB key",
                            key: key_id,
                        });
                    }
                }
                insert_object(c, d, AcmeKind::Account, &account).await
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which ACME writes may skip the disk flush: the documented contract of this module.
    #[test]
    fn only_withdrawals_and_certificate_links_are_durable() {
        for kind in [
            AcmeKind::Order,
            AcmeKind::Authorization,
            AcmeKind::Challenge,
        ] {
            for status in ["pending", "ready", "processing", "invalid", "expired"] {
                assert_eq!(
                    kind.durability(status),
                    Durability::Relaxed,
                    "{kind:?} {status}"
                );
            }
            for status in ["deactivated", "revoked"] {
                assert_eq!(
                    kind.durability(status),
                    Durability::Full,
                    "{kind:?} {status}"
                );
            }
        }
        // A validation's outcome may be redone; an order naming its certificate may not.
        assert_eq!(
            AcmeKind::Authorization.durability("valid"),
            Durability::Relaxed
        );
        assert_eq!(AcmeKind::Order.durability("valid"), Durability::Full);
        for status in ["valid", "deactivated", "revoked", "pending"] {
            assert_eq!(AcmeKind::Account.durability(status), Durability::Full);
        }
    }
}
