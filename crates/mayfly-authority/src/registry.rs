//! Remote management (`authority.enableAdmin`): provisioners and admins live in the store's
//! registry, shared by every instance on the database. ca.json's provisioners seed an empty
//! registry once; from then on the database is the truth and every instance follows its
//! revision counter ([`Authority::sync_registry`], polled by the server).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mayfly_jwt::Operation;
use mayfly_store::{RegistryEntry, RegistryKind, RegistryStore, RevocationStore, TokenReplay};
use mayfly_template::{Certificate, certificate_sans};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::AuthorityError;
use crate::authority::Authority;
use crate::config::{CaConfig, ProvisionerConfig};
use crate::state::AuthorityState;
use crate::{lock, x509};

/// How often instances poll the registry revision unless `authority.adminPollInterval` says.
pub const DEFAULT_ADMIN_POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The subject of the super admin seeded into an empty registry (step-ca's default).
pub const DEFAULT_ADMIN_SUBJECT: &str = "step";

/// Longest admin subject accepted.
const MAX_SUBJECT_LEN: usize = 255;

/// What an admin may do: a super admin also manages admins (step-ca's two types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AdminType {
    /// Manages provisioners, EAB keys and admins.
    SuperAdmin,
    /// Manages provisioners and EAB keys.
    Admin,
}

/// One admin: a subject authenticated through one provisioner (step-ca's shape).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Admin {
    /// Its id (random, assigned on creation).
    pub id: String,
    /// The name its certificate (CN or SAN) or token (`sub`) carries.
    pub subject: String,
    /// The provisioner that issued its certificate or signs its tokens.
    pub provisioner: String,
    /// `SUPER_ADMIN` or `ADMIN`.
    #[serde(rename = "type")]
    pub kind: AdminType,
}

impl Admin {
    /// A new admin with a fresh id.
    pub fn new(subject: &str, provisioner: &str, kind: AdminType) -> Self {
        Self {
            id: hex::encode(mayfly_keys::random_bytes::<8>()),
            subject: subject.to_owned(),
            provisioner: provisioner.to_owned(),
            kind,
        }
    }
}

/// Parses a provisioner document exactly as ca.json loading does; errors name the field.
pub fn parse_provisioner(value: Value) -> Result<ProvisionerConfig, AuthorityError> {
    ProvisionerConfig::from_value(value).map_err(|(path, message)| {
        AuthorityError::BadRequest(if path.is_empty() || path == "." {
            format!("invalid provisioner: {message}")
        } else {
            format!("invalid provisioner: field {path}: {message}")
        })
    })
}

/// Stores `admin` in the registry of `store`.
pub async fn put_admin(store: &mayfly_store::Store, admin: &Admin) -> Result<(), AuthorityError> {
    let data = serde_json::to_string(admin).map_err(|e| AuthorityError::Internal(e.to_string()))?;
    store
        .put_entry(RegistryKind::Admin, admin.id.clone(), data)
        .await?;
    Ok(())
}

/// The lock under which an instance seeds an empty registry.
const SEED_LOCK: &str = "registry-seed";

/// Seeds the registry of `store` when it holds no provisioner (the admin API never removes
/// the last one): ca.json's provisioners, and, when there is no admin yet, a SUPER_ADMIN
/// `admin_subject` of the first JWK provisioner (step-ca seeds "step" the same way).
/// Returns whether it seeded. Instances starting together on one empty database seed it
/// once: the check and the inserts run under a lock shared through the database.
pub async fn seed_registry(
    store: &mayfly_store::Store,
    config: &CaConfig,
    admin_subject: &str,
) -> Result<bool, AuthorityError> {
    lock::while_locked(store, SEED_LOCK, async {
        if !store.entries(RegistryKind::Provisioner).await?.is_empty() {
            return Ok(false);
        }
        let provisioners = &config.authority.provisioners;
        for provisioner in provisioners {
            put_provisioner_entry(store, provisioner).await?;
        }
        let first_jwk = provisioners
            .iter()
            .find(|p| matches!(p, ProvisionerConfig::Jwk(_)));
        if let Some(first_jwk) = first_jwk
            && store.entries(RegistryKind::Admin).await?.is_empty()
        {
            let admin = Admin::new(admin_subject, first_jwk.name(), AdminType::SuperAdmin);
            put_admin(store, &admin).await?;
            tracing::info!(
                subject = admin_subject,
                provisioner = first_jwk.name(),
                "created the first super admin"
            );
        }
        Ok(true)
    })
    .await
}

async fn put_provisioner_entry(
    store: &mayfly_store::Store,
    provisioner: &ProvisionerConfig,
) -> Result<i64, AuthorityError> {
    let data =
        serde_json::to_string(provisioner).map_err(|e| AuthorityError::Internal(e.to_string()))?;
    Ok(store
        .put_entry(
            RegistryKind::Provisioner,
            provisioner.name().to_owned(),
            data,
        )
        .await?)
}

fn corrupt(entry: &RegistryEntry, e: impl std::fmt::Display) -> AuthorityError {
    AuthorityError::Internal(format!("registry entry {:?} is invalid: {e}", entry.name))
}

impl Authority {
    /// Whether remote management is on (`authority.enableAdmin` when the CA was opened).
    pub fn admin_enabled(&self) -> bool {
        self.admin
    }

    /// How often the server polls the registry (`authority.adminPollInterval`, default 2 s).
    pub fn admin_poll_interval(&self) -> Duration {
        self.config()
            .ok()
            .and_then(|c| c.authority.admin_poll_interval)
            .map_or(DEFAULT_ADMIN_POLL_INTERVAL, Into::into)
    }

    /// On the first call seeds an empty registry from ca.json; then applies the registry's
    /// provisioners if its revision moved since the last call. Returns whether the provisioners changed. On
    /// error the previous provisioners keep serving.
    pub async fn sync_registry(&self) -> Result<bool, AuthorityError> {
        let config = self.config()?;
        if self.registry_revision.load(Ordering::Acquire) < 0 {
            seed_registry(&self.store, &config, DEFAULT_ADMIN_SUBJECT).await?;
        }
        let revision = self.store.registry_revision().await?;
        if revision == self.registry_revision.load(Ordering::Acquire) {
            return Ok(false);
        }
        let provisioners = self.stored_provisioners().await?;
        self.apply(&config, provisioners)?;
        self.registry_revision.store(revision, Ordering::Release);
        Ok(true)
    }

    /// The provisioners in the registry, with paths resolved as ca.json's are.
    async fn stored_provisioners(&self) -> Result<Vec<ProvisionerConfig>, AuthorityError> {
        let base = self.config()?.base_dir.clone();
        let entries = self.store.entries(RegistryKind::Provisioner).await?;
        entries
            .iter()
            .map(|entry| {
                let value: Value =
                    serde_json::from_str(&entry.data).map_err(|e| corrupt(entry, e))?;
                let mut config = ProvisionerConfig::from_value(value)
                    .map_err(|(path, message)| corrupt(entry, format!("{path}: {message}")))?;
                config.resolve_paths(&base);
                Ok(config)
            })
            .collect()
    }

    /// Compiles `config` with `provisioners` in place of its own and swaps the state in.
    pub(crate) fn apply(
        &self,
        config: &CaConfig,
        provisioners: Vec<ProvisionerConfig>,
    ) -> Result<(), AuthorityError> {
        let mut effective = config.clone();
        effective.authority.provisioners = provisioners;
        let state = Arc::new(AuthorityState::from_config(&effective)?);
        let mut guard = self
            .state
            .write()
            .map_err(|_| AuthorityError::Internal("state lock poisoned".into()))?;
        *guard = state;
        Ok(())
    }

    /// The configuration of provisioner `name`, as the registry (or ca.json) holds it.
    pub fn provisioner_config(&self, name: &str) -> Result<ProvisionerConfig, AuthorityError> {
        self.state()?
            .provisioners
            .by_name(name)
            .map(|p| p.config.clone())
            .ok_or_else(|| AuthorityError::NotFound(format!("no provisioner named {name:?}")))
    }

    /// Every provisioner's configuration, in order.
    pub fn provisioner_configs(&self) -> Result<Vec<ProvisionerConfig>, AuthorityError> {
        Ok(self
            .state()?
            .provisioners
            .iter()
            .map(|p| p.config.clone())
            .collect())
    }

    /// Adds (`replace` false) or replaces (`replace` true) a provisioner in the registry,
    /// after checking the document as ca.json loading does and that the whole set still
    /// compiles (keys, claims, templates, unique names). Applied here at once; the other
    /// instances follow within their poll interval.
    pub async fn put_provisioner(
        &self,
        provisioner: ProvisionerConfig,
        replace: bool,
    ) -> Result<(), AuthorityError> {
        self.require_admin_mode()?;
        let config = self.config()?;
        let mut candidate = provisioner.clone();
        candidate.resolve_paths(&config.base_dir);
        let mut all = self.stored_provisioners().await?;
        let name = provisioner.name().to_owned();
        match (all.iter().position(|p| p.name() == name), replace) {
            (Some(_), false) => {
                return Err(AuthorityError::BadRequest(format!(
                    "a provisioner named {name:?} already exists"
                )));
            }
            (None, true) => {
                return Err(AuthorityError::NotFound(format!(
                    "no provisioner named {name:?}"
                )));
            }
            (Some(i), true) => all[i] = candidate,
            (None, false) => all.push(candidate),
        }
        let mut effective = (*config).clone();
        effective.authority.provisioners = all;
        AuthorityState::from_config(&effective).map_err(|e| match e {
            AuthorityError::Config(m) => AuthorityError::BadRequest(m),
            other => other,
        })?;
        put_provisioner_entry(&self.store, &provisioner).await?;
        self.sync_registry().await?;
        Ok(())
    }

    /// Removes provisioner `name` from the registry. Refused when no super admin would be
    /// left with a provisioner to authenticate through.
    pub async fn remove_provisioner(&self, name: &str) -> Result<(), AuthorityError> {
        self.require_admin_mode()?;
        let remaining: Vec<String> = self
            .stored_provisioners()
            .await?
            .iter()
            .map(|p| p.name().to_owned())
            .filter(|n| n != name)
            .collect();
        if remaining.is_empty() {
            return Err(AuthorityError::BadRequest(format!(
                "refusing to remove {name:?}, the last provisioner"
            )));
        }
        let admins = self.admins().await?;
        let supers = || admins.iter().filter(|a| a.kind == AdminType::SuperAdmin);
        if supers().next().is_some() && !supers().any(|a| remaining.contains(&a.provisioner)) {
            return Err(AuthorityError::BadRequest(format!(
                "removing provisioner {name:?} would leave no super admin able to log in"
            )));
        }
        if self
            .store
            .delete_entry(RegistryKind::Provisioner, name.to_owned())
            .await?
            .is_none()
        {
            return Err(AuthorityError::NotFound(format!(
                "no provisioner named {name:?}"
            )));
        }
        self.sync_registry().await?;
        Ok(())
    }

    /// Every admin, by id.
    pub async fn admins(&self) -> Result<Vec<Admin>, AuthorityError> {
        self.store
            .entries(RegistryKind::Admin)
            .await?
            .iter()
            .map(|entry| serde_json::from_str(&entry.data).map_err(|e| corrupt(entry, e)))
            .collect()
    }

    /// Adds an admin; its provisioner must exist and the (subject, provisioner) pair be new.
    pub async fn add_admin(
        &self,
        subject: &str,
        provisioner: &str,
        kind: AdminType,
    ) -> Result<Admin, AuthorityError> {
        self.require_admin_mode()?;
        if subject.trim().is_empty() || subject.len() > MAX_SUBJECT_LEN {
            return Err(AuthorityError::BadRequest(format!(
                "field subject: must be 1 to {MAX_SUBJECT_LEN} bytes"
            )));
        }
        self.provisioner_config(provisioner).map_err(|_| {
            AuthorityError::BadRequest(format!(
                "field provisioner: no provisioner named {provisioner:?}"
            ))
        })?;
        if self
            .admins()
            .await?
            .iter()
            .any(|a| a.subject == subject && a.provisioner == provisioner)
        {
            return Err(AuthorityError::BadRequest(format!(
                "{subject:?} is already an admin of provisioner {provisioner:?}"
            )));
        }
        let admin = Admin::new(subject, provisioner, kind);
        put_admin(&self.store, &admin).await?;
        Ok(admin)
    }

    /// Removes the admin whose id, or else whose subject, is `who`. Refuses to remove the
    /// last super admin, and a subject that names several admins.
    pub async fn remove_admin(&self, who: &str) -> Result<Admin, AuthorityError> {
        self.require_admin_mode()?;
        let admins = self.admins().await?;
        let by_subject: Vec<&Admin> = admins.iter().filter(|a| a.subject == who).collect();
        let admin = match (admins.iter().find(|a| a.id == who), by_subject.as_slice()) {
            (Some(admin), _) => admin.clone(),
            (None, [admin]) => (*admin).clone(),
            (None, []) => {
                return Err(AuthorityError::NotFound(format!(
                    "no admin has id or subject {who:?}"
                )));
            }
            (None, _) => {
                return Err(AuthorityError::BadRequest(format!(
                    "several admins have subject {who:?}: remove one by id"
                )));
            }
        };
        let supers = admins
            .iter()
            .filter(|a| a.kind == AdminType::SuperAdmin)
            .count();
        if admin.kind == AdminType::SuperAdmin && supers <= 1 {
            return Err(AuthorityError::BadRequest(
                "refusing to remove the last super admin".into(),
            ));
        }
        self.store
            .delete_entry(RegistryKind::Admin, admin.id.clone())
            .await?;
        Ok(admin)
    }

    /// The admin an admin token (`Authorization: Bearer`) speaks for: signed by the admin's
    /// JWK provisioner, `sub` the admin's subject, audience `https://HOST[:PORT]/admin`, used
    /// once.
    pub async fn authenticate_admin_token(&self, token: &str) -> Result<Admin, AuthorityError> {
        self.require_admin_mode()?;
        let state = self.state()?;
        let claims = self.validate_token(&state, token, Operation::Admin)?;
        let admin = self
            .admins()
            .await?
            .into_iter()
            .find(|a| a.subject == claims.subject && a.provisioner == claims.issuer)
            .ok_or_else(|| {
                AuthorityError::Forbidden(format!(
                    "{:?} is not an admin of provisioner {:?}",
                    claims.subject, claims.issuer
                ))
            })?;
        if !self
            .store
            .record_token(claims.jti.clone(), claims.expires_at)
            .await?
        {
            return Err(AuthorityError::Unauthorized(
                "the admin token has already been used".into(),
            ));
        }
        Ok(admin)
    }

    /// The admin a client certificate (mTLS) speaks for: issued by this CA, current, not
    /// revoked, its CN or a SAN an admin's subject, and issued by that admin's provisioner.
    pub async fn authenticate_admin_certificate(
        &self,
        certificate: &Certificate,
    ) -> Result<Admin, AuthorityError> {
        self.require_admin_mode()?;
        x509::verify_issued_by(certificate, &self.ca.intermediate)?;
        let serial = x509::serial_hex(certificate);
        let (not_before, not_after) = x509::validity_unix(certificate);
        let now = crate::now_unix();
        if now > not_after || now < not_before {
            return Err(AuthorityError::Unauthorized(format!(
                "client certificate {serial} is not valid now"
            )));
        }
        if self.store.revocation(&serial).await?.is_some() {
            return Err(AuthorityError::Unauthorized(format!(
                "client certificate {serial} is revoked"
            )));
        }
        let provisioner = x509::provisioner_of(certificate).ok_or_else(|| {
            AuthorityError::Forbidden(format!("client certificate {serial} names no provisioner"))
        })?;
        let mut names: Vec<String> = certificate_sans(certificate)
            .map_err(|e| AuthorityError::BadRequest(e.to_string()))?
            .iter()
            .map(crate::sign::san_text)
            .collect();
        names.extend(x509::common_name(certificate));
        self.admins()
            .await?
            .into_iter()
            .find(|a| a.provisioner == provisioner && names.contains(&a.subject))
            .ok_or_else(|| {
                AuthorityError::Forbidden(format!(
                    "no admin of provisioner {provisioner:?} is named {names:?} (client certificate {serial})"
                ))
            })
    }

    /// Records a change an admin made (or tried) in the audit log.
    pub async fn audit_admin(&self, admin: &Admin, detail: String) {
        let detail = format!("admin {} ({:?}): {detail}", admin.id, admin.kind);
        self.audit("admin", None, None, Some(&admin.subject), detail)
            .await;
    }

    fn require_admin_mode(&self) -> Result<(), AuthorityError> {
        if self.admin {
            Ok(())
        } else {
            Err(AuthorityError::NotFound(
                "remote management is disabled (authority.enableAdmin)".into(),
            ))
        }
    }
}
