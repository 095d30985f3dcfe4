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

pub mod claims;
pub mod config;
pub mod policy;
