//! The Mayfly CA core, without a network: configuration (`ca.json`), provisioners, claims,
//! name policy, and the sign / renew / revoke operations another Rust service can embed.
//!
//! ```
//! use mayfly_authority::policy::{Name, NamePolicy, X509Policy};
//!
//! let config: X509Policy = serde_json::from_str(r#"{"allow": {"dns": ["*.internal"]}}"#)?;
//! let policy = NamePolicy::compile(Some(&config))?;
//! assert!(policy.check(None, &[Name::Dns("db.internal")]).is_ok());
//! assert!(policy.check(None, &[Name::Dns("evil.com")]).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod authority;
mod ca;
pub mod claims;
pub mod config;
mod error;
mod lock;
pub mod policy;
mod provisioner;
mod punycode;
mod registry;
mod renew;
mod revoke;
mod sign;
mod state;
mod x509;

pub use authority::{Authority, IssuedCertificate, db_config, on_behalf_of};
pub use ca::CaMaterial;
pub use error::AuthorityError;
pub use mayfly_store::RevocationRecord;
pub use provisioner::{Provisioner, ProvisionerKind, ProvisionerSet};
pub use registry::{
    Admin, AdminType, DEFAULT_ADMIN_POLL_INTERVAL, DEFAULT_ADMIN_SUBJECT, parse_provisioner,
    put_admin, seed_registry,
};
pub use revoke::{RevokeAuth, RevokeRequest};
pub use sign::{SignRequest, ValidityWindow};
pub use state::AuthorityState;
pub use x509::{PROVISIONER_EXTENSION_OID, parse_serial, provisioner_of, serial_hex};

/// The current time in unix seconds.
pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
