//! Issued certificates, revocations and one-time token ids.

use crate::error::{StoreError, check_len};
use crate::sql::{Row, Statement, WriteConn};
use crate::store::Store;

/// Longest serial (hex), token id, provisioner or issuer name the store accepts.
pub const MAX_KEY_LEN: usize = 255;

/// An issued certificate as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Serial number as lowercase hex, in one canonical form the caller picks (e.g. the
    /// minimal DER integer's bytes).
    pub serial: String,
    /// The certificate's DER; `None` once pruned after expiry.
    pub der: Option<Vec<u8>>,
    /// The subject as a display string.
    pub subject: String,
    /// The subject alternative names, as display strings.
    pub sans: Vec<String>,
    /// notBefore, unix seconds.
    pub not_before: i64,
    /// notAfter, unix seconds.
    pub not_after: i64,
    /// The provisioner that authorized it.
    pub provisioner: String,
    /// The issuing CA (e.g. its subject key identifier in hex).
    pub issuer: String,
}

/// A revocation: kept forever, never pruned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRecord {
    /// Serial number (lowercase hex).
    pub serial: String,
    /// When it was revoked, unix seconds.
    pub revoked_at: i64,
    /// RFC 5280 CRLReason code.
    pub reason: i64,
    /// Free-text reason given by the requester.
    pub reason_text: String,
    /// Who revoked it (provisioner, admin or `mtls`).
    pub revoked_by: String,
    /// The issuing CA, to build its CRL.
    pub issuer: String,
    /// The certificate's notAfter if known: it leaves CRLs after that.
    pub not_after: Option<i64>,
}

/// What an issuance uses up, recorded in the issuance's own transaction so that it buys
/// exactly one certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Consumed {
    /// A one-time token id, kept until `expires_at` (unix seconds); a reused one is
    /// [`StoreError::TokenReplayed`].
    Token {
        /// The token's `jti`.
        jti: String,
        /// When the token expires.
        expires_at: i64,
    },
    /// An ACME order, written back in its new state (valid, naming the certificate) only if
    /// it still has the revision it was read at; otherwise [`StoreError::Changed`].
    AcmeOrder(crate::AcmeObject),
}

/// Issued certificates.
pub trait CertificateStore {
    /// Stores an issued certificate; a second certificate with the same serial is
    /// [`StoreError::DuplicateSerial`].
    fn insert_certificate(
        &self,
        cert: CertificateRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records the use of token `jti` (valid until `jti_expires_at`) and the certificate it
    /// bought, atomically: a reused token is [`StoreError::TokenReplayed`] and stores nothing.
    fn record_issuance(
        &self,
        jti: String,
        jti_expires_at: i64,
        cert: CertificateRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records an issued certificate, what it used up (if anything: a one-time token or an
    /// ACME order, see [`Consumed`]) and its audit event in one durable transaction: nothing
    /// is stored unless all are.
    fn record_issued(
        &self,
        consumed: Option<Consumed>,
        cert: CertificateRecord,
        audit: crate::AuditEvent,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The certificate with this serial.
    fn certificate(
        &self,
        serial: &str,
    ) -> impl Future<Output = Result<Option<CertificateRecord>, StoreError>> + Send;
    /// Up to `limit` certificates in serial order, starting after `after` (paging).
    fn list_certificates(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<CertificateRecord>, StoreError>> + Send;
}

/// Revocations, for CRLs and OCSP.
pub trait RevocationStore {
    /// Revokes durably. Idempotent: revoking again returns the record stored first.
    fn revoke(
        &self,
        record: RevocationRecord,
    ) -> impl Future<Output = Result<RevocationRecord, StoreError>> + Send;
    /// The revocation of this serial, if revoked (OCSP status).
    fn revocation(
        &self,
        serial: &str,
    ) -> impl Future<Output = Result<Option<RevocationRecord>, StoreError>> + Send;
    /// Revocations by `issuer` still to list on its CRL at `now` (not expired).
    fn list_revoked(
        &self,
        issuer: &str,
        now: i64,
    ) -> impl Future<Output = Result<Vec<RevocationRecord>, StoreError>> + Send;
}

/// One-time token ids: the replay guarantee, across restarts and instances.
pub trait TokenReplay {
    /// Records `jti` as used until `expires_at`. `Ok(true)` on first use, `Ok(false)` when it
    /// was used before (refuse the request).
    fn record_token(
        &self,
        jti: String,
        expires_at: i64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// The columns [`cert_from_row`] reads, in its order.
const CERT_COLUMNS: &str = "serial, der, subject, sans, not_before, not_after, provisioner, issuer";

fn check_cert(cert: &CertificateRecord) -> Result<(), StoreError> {
    check_len("serial", &cert.serial, MAX_KEY_LEN)?;
    if !cert
        .serial
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(StoreError::InvalidInput {
            field: "serial",
            reason: "must be lowercase hex".into(),
        });
    }
    check_len("provisioner", &cert.provisioner, MAX_KEY_LEN)?;
    check_len("issuer", &cert.issuer, MAX_KEY_LEN)
}

async fn insert_cert(
    conn: &mut dyn WriteConn,
    dialect: crate::dialect::Dialect,
    cert: &CertificateRecord,
) -> Result<(), StoreError> {
    let sans = serde_json::to_string(&cert.sans).map_err(|e| StoreError::InvalidInput {
        field: "sans",
        reason: e.to_string(),
    })?;
    let inserted = conn
        .exec(
            dialect
                .statement(
                    "INSERT IGNORE INTO certificates (serial, der, subject, sans, not_before, \
                     not_after, provisioner, issuer, created_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&cert.serial)
                .bind(cert.der.as_ref())
                .bind(&cert.subject)
                .bind(sans)
                .bind(cert.not_before)
                .bind(cert.not_after)
                .bind(&cert.provisioner)
                .bind(&cert.issuer)
                .bind(crate::now()),
        )
        .await?;
    if inserted == 0 {
        return Err(StoreError::DuplicateSerial(cert.serial.clone()));
    }
    Ok(())
}

async fn insert_token(
    conn: &mut dyn WriteConn,
    dialect: crate::dialect::Dialect,
    jti: &str,
    expires_at: i64,
) -> Result<bool, StoreError> {
    let inserted = conn
        .exec(
            dialect
                .statement("INSERT IGNORE INTO used_tokens (jti, expires_at) VALUES (?, ?)")
                .bind(jti)
                .bind(expires_at),
        )
        .await?;
    Ok(inserted == 1)
}

/// Records what an issuance used up, in its transaction (see [`Consumed`]).
async fn use_up(
    c: &mut dyn WriteConn,
    d: crate::dialect::Dialect,
    consumed: Consumed,
) -> Result<(), StoreError> {
    match consumed {
        Consumed::Token { jti, expires_at } => match insert_token(c, d, &jti, expires_at).await? {
            true => Ok(()),
            false => Err(StoreError::TokenReplayed(jti)),
        },
        Consumed::AcmeOrder(order) => {
            match crate::acme::update_row(c, d, crate::AcmeKind::Order, &order).await? {
                true => Ok(()),
                false => Err(StoreError::Changed {
                    what: "ACME order",
                    key: order.id,
                }),
            }
        }
    }
}

fn cert_from_row(row: &Row) -> Result<CertificateRecord, StoreError> {
    let sans = row.text(3)?;
    Ok(CertificateRecord {
        serial: row.text(0)?,
        der: row.opt_blob(1)?,
        subject: row.text(2)?,
        sans: serde_json::from_str(&sans).map_err(|e| StoreError::Corrupt {
            what: "certificate SANs",
            reason: e.to_string(),
        })?,
        not_before: row.int(4)?,
        not_after: row.int(5)?,
        provisioner: row.text(6)?,
        issuer: row.text(7)?,
    })
}

fn revocation_from_row(row: &Row) -> Result<RevocationRecord, StoreError> {
    Ok(RevocationRecord {
        serial: row.text(0)?,
        revoked_at: row.int(1)?,
        reason: row.int(2)?,
        reason_text: row.text(3)?,
        revoked_by: row.text(4)?,
        issuer: row.text(5)?,
        not_after: row.opt_int(6)?,
    })
}

/// The columns [`revocation_from_row`] reads, in its order.
const REVOCATION_COLUMNS: &str =
    "serial, revoked_at, reason, reason_text, revoked_by, issuer, not_after";

impl CertificateStore for Store {
    async fn insert_certificate(&self, cert: CertificateRecord) -> Result<(), StoreError> {
        check_cert(&cert)?;
        let d = self.dialect();
        self.write(move |c| {
            let cert = cert.clone();
            Box::pin(async move { insert_cert(c, d, &cert).await })
        })
        .await
    }

    async fn record_issuance(
        &self,
        jti: String,
        jti_expires_at: i64,
        cert: CertificateRecord,
    ) -> Result<(), StoreError> {
        check_cert(&cert)?;
        check_len("token id", &jti, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let (jti, cert) = (jti.clone(), cert.clone());
            Box::pin(async move {
                if !insert_token(c, d, &jti, jti_expires_at).await? {
                    return Err(StoreError::TokenReplayed(jti));
                }
                insert_cert(c, d, &cert).await
            })
        })
        .await
    }

    async fn record_issued(
        &self,
        consumed: Option<Consumed>,
        cert: CertificateRecord,
        audit: crate::AuditEvent,
    ) -> Result<(), StoreError> {
        check_cert(&cert)?;
        match &consumed {
            Some(Consumed::Token { jti, .. }) => check_len("token id", jti, MAX_KEY_LEN)?,
            Some(Consumed::AcmeOrder(order)) => crate::acme::check_object(order)?,
            None => {}
        }
        check_len("event", &audit.event, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let (consumed, cert, audit) = (consumed.clone(), cert.clone(), audit.clone());
            Box::pin(async move {
                if let Some(consumed) = consumed {
                    use_up(c, d, consumed).await?;
                }
                insert_cert(c, d, &cert).await?;
                crate::audit::insert_audit(c, d, &audit).await.map(drop)
            })
        })
        .await
    }

    async fn certificate(&self, serial: &str) -> Result<Option<CertificateRecord>, StoreError> {
        let sql = crate::select(
            self.dialect(),
            CERT_COLUMNS,
            "certificates WHERE serial = ?",
        );
        let row = Statement::new(sql)
            .bind(serial)
            .fetch_optional(self)
            .await?;
        row.as_ref().map(cert_from_row).transpose()
    }

    async fn list_certificates(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        let sql = crate::select(
            self.dialect(),
            CERT_COLUMNS,
            "certificates WHERE serial > ? ORDER BY serial LIMIT ?",
        );
        let rows = Statement::new(sql)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(self)
            .await?;
        rows.iter().map(cert_from_row).collect()
    }
}

impl RevocationStore for Store {
    async fn revoke(&self, record: RevocationRecord) -> Result<RevocationRecord, StoreError> {
        check_len("serial", &record.serial, MAX_KEY_LEN)?;
        check_len("revoked by", &record.revoked_by, MAX_KEY_LEN)?;
        check_len("issuer", &record.issuer, MAX_KEY_LEN)?;
        let d = self.dialect();
        let serial = record.serial.clone();
        self.write(move |c| {
            let record = record.clone();
            Box::pin(async move {
                c.exec(
                    d.statement(
                        "INSERT IGNORE INTO revocations (serial, revoked_at, reason, \
                         reason_text, revoked_by, issuer, not_after) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(&record.serial)
                    .bind(record.revoked_at)
                    .bind(record.reason)
                    .bind(&record.reason_text)
                    .bind(&record.revoked_by)
                    .bind(&record.issuer)
                    .bind(record.not_after),
                )
                .await
                .map(drop)
            })
        })
        .await?;
        // Revocations are never changed or deleted: the committed row is the one stored first.
        self.revocation(&serial)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "revocation",
                reason: format!("serial {serial} is missing right after it was stored"),
            })
    }

    async fn revocation(&self, serial: &str) -> Result<Option<RevocationRecord>, StoreError> {
        let sql = crate::select(
            self.dialect(),
            REVOCATION_COLUMNS,
            "revocations WHERE serial = ?",
        );
        let row = Statement::new(sql)
            .bind(serial)
            .fetch_optional(self)
            .await?;
        row.as_ref().map(revocation_from_row).transpose()
    }

    async fn list_revoked(
        &self,
        issuer: &str,
        now: i64,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        let sql = crate::select(
            self.dialect(),
            REVOCATION_COLUMNS,
            "revocations WHERE issuer = ? AND (not_after IS NULL OR not_after >= ?) \
             ORDER BY serial",
        );
        let rows = Statement::new(sql)
            .bind(issuer)
            .bind(now)
            .fetch_all(self)
            .await?;
        rows.iter().map(revocation_from_row).collect()
    }
}

impl TokenReplay for Store {
    async fn record_token(&self, jti: String, expires_at: i64) -> Result<bool, StoreError> {
        check_len("token id", &jti, MAX_KEY_LEN)?;
        let d = self.dialect();
        self.write(move |c| {
            let jti = jti.clone();
            Box::pin(async move { insert_token(c, d, &jti, expires_at).await })
        })
        .await
    }
}
