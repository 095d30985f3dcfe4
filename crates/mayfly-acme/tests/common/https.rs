//! The real HTTPS front for real ACME clients: `mayfly_server::Server` (hyper + rustls, the
//! same code `mayfly-ca serve` runs) over the test CA, which mounts the ACME service under
//! `/acme/{provisioner}/` and `/2.0/acme/{provisioner}/`.

use std::sync::Arc;

use mayfly_authority::config::CaConfig;
use mayfly_server::{Server, ServerOptions};

use super::Ca;

/// Serves `ca` over HTTPS on 127.0.0.1 (server certificate for localhost and 127.0.0.1,
/// issued by the test intermediate); returns the port.
pub async fn serve(ca: &Ca) -> u16 {
    let config = CaConfig::from_json(
        &serde_json::json!({
            "root": "unused-root.crt", "crt": "unused-int.crt", "key": "unused-int.key",
            "address": "127.0.0.1:0", "dnsNames": ["localhost", "127.0.0.1"],
            "tls": {"minVersion": 1.2, "maxVersion": 1.3},
            "authority": {},
        })
        .to_string(),
    )
    .unwrap();
    let server = Server::bind(Arc::clone(&ca.authority), &config, ServerOptions::default())
        .await
        .unwrap();
    let port = server.local_addr().unwrap().port();
    tokio::spawn(server.run());
    port
}
