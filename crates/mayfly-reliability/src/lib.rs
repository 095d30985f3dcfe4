//! Test support for Mayfly's reliability and security suite (issue 13): a real `mayfly-ca
//! serve` in a temporary folder ([`Ca`]), a raw HTTPS client that sends exactly the bytes it is
//! given ([`Https`]), forged tokens ([`hostile_token`]) and ACME requests ([`hostile_jws`]),
//! the hostile-request corpus of `tests/corpus/` ([`Corpus`]), a steady sign load that records
//! what was acknowledged ([`sign_load`]) and a private PostgreSQL server to stop and start
//! ([`Postgres`]); for high availability, a database several instances share ([`SharedDb`])
//! and an ACME client that moves between them ([`AcmeClient`]). The suite itself lives in this
//! crate's `tests/`.
//!
//! ```
//! use mayfly_reliability::{Reply, parse_reply};
//!
//! let reply: Reply = parse_reply(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}")
//!     .expect("a response");
//! assert_eq!(reply.status, 400);
//! assert_eq!(reply.body, b"{}");
//! ```
#![forbid(unsafe_code)]

mod acme;
mod ca;
mod corpus;
mod ha;
mod https;
mod load;
mod pg;
mod tokens;

pub use acme::{JWS_KINDS, hostile_jws};
pub use ca::{CA_PASSWORD, Ca, Issued, PROVISIONER_PASSWORD, csr_pem, decimal, rss_kib};
pub use corpus::{Corpus, CorpusEntry};
pub use ha::{AcmeClient, AcmeReply, Backend, SharedDb};
pub use https::{Https, Reply, parse_reply};
pub use load::{Acked, StopOnDrop, sign_load, store_serial, wait_for};
pub use pg::Postgres;
pub use tokens::{TOKEN_KINDS, hostile_token};
