//! The server's error type: what stops the server from starting or reloading.

/// A failure to configure, start or run the server. Request-level failures never surface
/// here: they become JSON error responses.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// `tls` in ca.json asks for something Mayfly cannot or will not do.
    #[error("tls: {0}")]
    TlsConfig(String),
    /// `proxyProtocol` in ca.json is not usable.
    #[error("proxyProtocol: {0}")]
    ProxyProtocol(String),
    /// `limits` in ca.json has a value the server cannot use.
    #[error("limits: {0}")]
    Limits(String),
    /// A listener address cannot be parsed or bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address from ca.json.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server's own TLS certificate could not be issued or loaded.
    #[error("server certificate: {0}")]
    Certificate(String),
    /// rustls refused the configuration.
    #[error("rustls: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA refused an operation the server needs (reload).
    #[error(transparent)]
    Authority(#[from] mayfly_authority::AuthorityError),
    /// The ACME service could not start (its nonce secret could not be read or created).
    #[error("ACME: {0}")]
    Acme(String),
}
