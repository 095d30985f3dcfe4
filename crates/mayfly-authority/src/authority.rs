//! The [`Authority`]: CA material + reloadable state + the store.

use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, RwLock};

use mayfly_keys::Password;
use mayfly_store::{
    AuditEvent, AuditLog, CertificateRecord, CertificateStore, Consumed, DbConfig, Store,
};
use mayfly_template::Certificate;
use serde_json::Value;

use crate::AuthorityError;
use crate::ca::CaMaterial;
use crate::config::CaConfig;
use crate::provisioner::{Provisioner, ProvisionerKind};
use crate::state::AuthorityState;

/// The certificate authority, without a network: sign, renew, rekey, revoke, CRL and OCSP.
///
/// Cheap to share behind an `Arc`; every operation takes `&self`. [`Authority::reload`]
/// swaps provisioners, claims, policy and templates atomically while requests continue.
pub struct Authority {
    pub(crate) ca: CaMaterial,
    pub(crate) state: RwLock<Arc<AuthorityState>>,
    pub(crate) store: Store,
    /// Whether provisioners and admins live in the database (`authority.enableAdmin`).
    pub(crate) admin: bool,
    /// The last ca.json applied (the registry's provisioners replace its own).
    pub(crate) config: RwLock<Arc<CaConfig>>,
    /// The registry revision the state reflects (-1 before the first sync).
    pub(crate) registry_revision: AtomicI64,
}

tokio::task_local! {
    /// The client a request is being served for (see [`on_behalf_of`]).
    static CLIENT: SocketAddr;
}

/// Runs `operation` on behalf of the client at `addr` (as the server sees it, after any
/// PROXY protocol header): the audit events it records name that address.
pub async fn on_behalf_of<F: Future>(addr: SocketAddr, operation: F) -> F::Output {
    CLIENT.scope(addr, operation).await
}

/// A certificate the CA just issued, with the chain to send with it.
#[derive(Clone, Debug)]
pub struct IssuedCertificate {
    /// The new certificate.
    pub certificate: Certificate,
    /// Its issuer chain, intermediate first (roots excluded).
    pub chain: Vec<Certificate>,
    /// Its serial as the store keys it (lowercase hex).
    pub serial: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// The store ca.json's `db` block names (SQLite at `db/mayfly.db` beside the configuration
/// when there is none).
pub fn db_config(config: &CaConfig) -> Result<DbConfig, AuthorityError> {
    match &config.db {
        Some(db) => serde_json::from_value::<DbConfig>(db.clone())
            .map_err(|e| AuthorityError::Config(format!("db: {e}"))),
        None => Ok(DbConfig::sqlite(&config.default_db_path())),
    }
}

impl Authority {
    /// Opens the CA a ca.json describes: loads its keys (the intermediate key decrypted with
    /// `password`), opens and migrates the store (SQLite at `db/mayfly.db` beside the
    /// configuration when ca.json has no `db` block).
    pub async fn open(
        config: &CaConfig,
        password: Option<&Password>,
    ) -> Result<Self, AuthorityError> {
        let ca = CaMaterial::load(config, password)?;
        let store = Store::open(&db_config(config)?).await?;
        let authority = Self::from_parts(config, ca, store)?;
        if authority.admin {
            authority.sync_registry().await?;
        }
        Ok(authority)
    }

    /// Assembles an authority from parts already opened (embedding, tests). With
    /// `enableAdmin`, call [`Authority::sync_registry`] before serving.
    pub fn from_parts(
        config: &CaConfig,
        ca: CaMaterial,
        store: Store,
    ) -> Result<Self, AuthorityError> {
        let state = AuthorityState::from_config(config)?;
        Ok(Self {
            ca,
            state: RwLock::new(Arc::new(state)),
            store,
            admin: config.authority.enable_admin,
            config: RwLock::new(Arc::new(config.clone())),
            registry_revision: AtomicI64::new(-1),
        })
    }

    /// Applies a new configuration's provisioners, claims, policy and templates. On error
    /// the old state keeps serving. (Keys and certificates are not reloaded.)
    ///
    /// With remote management on, the provisioners stay those of the database.
    pub fn reload(&self, config: &CaConfig) -> Result<(), AuthorityError> {
        let provisioners = if self.admin {
            self.provisioner_configs()?
        } else {
            config.authority.provisioners.clone()
        };
        self.apply(config, provisioners)?;
        let mut guard = self
            .config
            .write()
            .map_err(|_| AuthorityError::Internal("config lock poisoned".into()))?;
        *guard = Arc::new(config.clone());
        Ok(())
    }

    /// The last ca.json applied.
    pub(crate) fn config(&self) -> Result<Arc<CaConfig>, AuthorityError> {
        self.config
            .read()
            .map(|c| Arc::clone(&c))
            .map_err(|_| AuthorityError::Internal("config lock poisoned".into()))
    }

    /// The current state (a cheap `Arc` clone; requests keep the state they started with).
    pub(crate) fn state(&self) -> Result<Arc<AuthorityState>, AuthorityError> {
        self.state
            .read()
            .map(|s| Arc::clone(&s))
            .map_err(|_| AuthorityError::Internal("state lock poisoned".into()))
    }

    /// The roots clients trust.
    pub fn roots(&self) -> &[Certificate] {
        &self.ca.roots
    }

    /// Roots accepted for client certificates besides [`Authority::roots`].
    pub fn federated_roots(&self) -> &[Certificate] {
        &self.ca.federated_roots
    }

    /// The intermediates (the issuing one).
    pub fn intermediates(&self) -> &[Certificate] {
        std::slice::from_ref(&self.ca.intermediate)
    }

    /// The root whose SHA-256 fingerprint (hex, any case) is `fingerprint`.
    pub fn root_by_fingerprint(&self, fingerprint: &str) -> Option<&Certificate> {
        self.ca.roots.iter().find(|root| {
            mayfly_template::fingerprint_sha256(root)
                .is_ok_and(|fp| fp.eq_ignore_ascii_case(fingerprint))
        })
    }

    /// The store (for the server's health checks and the admin API).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The issuing intermediate's signer (the server issues its own TLS certificate with it).
    pub fn signer(&self) -> &dyn mayfly_keys::Signer {
        self.ca.signer.as_ref()
    }

    /// Provisioners as `/provisioners` lists them (step's JSON), `limit` from `cursor` (the
    /// index to start at). Returns the page and the next cursor, if any.
    pub fn provisioners(
        &self,
        cursor: usize,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<usize>), AuthorityError> {
        let state = self.state()?;
        let limit = limit.clamp(1, 100);
        let page: Vec<Value> = state
            .provisioners
            .iter()
            .skip(cursor)
            .take(limit)
            .map(|p| serde_json::to_value(&p.config))
            .collect::<Result<_, _>>()
            .map_err(|e| AuthorityError::Internal(e.to_string()))?;
        let next = cursor + page.len();
        Ok((page, (next < state.provisioners.len()).then_some(next)))
    }

    /// The encrypted private JWK of the JWK provisioner whose key id is `kid`.
    pub fn provisioner_encrypted_key(&self, kid: &str) -> Result<String, AuthorityError> {
        let state = self.state()?;
        let provisioner = state.provisioners.by_kid(kid).ok_or_else(|| {
            AuthorityError::NotFound(format!("no provisioner has key id {kid:?}"))
        })?;
        match &provisioner.kind {
            ProvisionerKind::Jwk {
                encrypted_key: Some(key),
                ..
            } => Ok(key.clone()),
            _ => Err(AuthorityError::NotFound(format!(
                "provisioner {:?} has no encrypted key",
                provisioner.name
            ))),
        }
    }

    /// The configuration of ACME provisioner `name` (challenges, EAB, validation settings).
    pub fn acme_provisioner(&self, name: &str) -> Option<crate::config::AcmeProvisionerConfig> {
        let state = self.state().ok()?;
        match &state.provisioners.by_name(name)?.config {
            crate::config::ProvisionerConfig::Acme(config) => Some(config.clone()),
            crate::config::ProvisionerConfig::Jwk(_) => None,
        }
    }

    /// Whether the CA can serve: the store answers.
    pub async fn health(&self) -> Result<(), AuthorityError> {
        self.store.schema_version().await?;
        Ok(())
    }

    /// Records an audit event on its own (refusals, revocations); a failure to audit is
    /// logged, never hides the outcome. Issuance audits inside its own store transaction
    /// (see [`Authority::audit_event`]).
    pub(crate) async fn audit(
        &self,
        event: &str,
        provisioner: Option<&Provisioner>,
        serial: Option<&str>,
        subject: Option<&str>,
        detail: String,
    ) {
        let entry = self.audit_event(event, provisioner, serial, subject, detail);
        log_audit(&entry);
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!("audit log write failed: {e}");
        }
    }

    /// Audits the refusal of a request with `error`. When the storage itself refused it
    /// (`Unavailable`), the event only reaches the log: a store write would fail the same
    /// way, after holding the client for another connection timeout.
    pub(crate) async fn audit_refusal(
        &self,
        error: &AuthorityError,
        serial: Option<&str>,
        subject: Option<&str>,
        detail: String,
    ) {
        if matches!(error, AuthorityError::Unavailable(_)) {
            log_audit(&self.audit_event("refuse", None, serial, subject, detail));
        } else {
            self.audit("refuse", None, serial, subject, detail).await;
        }
    }

    /// Records an issued certificate, the token that bought it and its audit event in one
    /// durable transaction; the audit line reaches the log only once that has committed, so
    /// the log never shows an issuance the store does not hold.
    pub(crate) async fn store_issued(
        &self,
        consumed: Option<Consumed>,
        record: CertificateRecord,
        audit: AuditEvent,
    ) -> Result<(), AuthorityError> {
        let line = audit.clone();
        self.store.record_issued(consumed, record, audit).await?;
        log_audit(&line);
        Ok(())
    }

    /// An audit event for the store (and the log, once it is recorded).
    pub(crate) fn audit_event(
        &self,
        event: &str,
        provisioner: Option<&Provisioner>,
        serial: Option<&str>,
        subject: Option<&str>,
        detail: String,
    ) -> AuditEvent {
        let detail = match CLIENT.try_with(|addr| *addr) {
            Ok(addr) if detail.is_empty() => format!("client={addr}"),
            Ok(addr) => format!("{detail} client={addr}"),
            Err(_) => detail,
        };
        AuditEvent {
            at: crate::now_unix(),
            event: event.to_owned(),
            serial: serial.map(str::to_owned),
            subject: subject.map(str::to_owned),
            provisioner: provisioner.map(|p| p.name.clone()),
            detail,
        }
    }
}

/// Writes an audit event to the log (tracing).
fn log_audit(entry: &AuditEvent) {
    tracing::info!(event = %entry.event, provisioner = ?entry.provisioner, serial = ?entry.serial, subject = ?entry.subject, detail = %entry.detail, "audit");
}
