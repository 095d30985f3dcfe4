//! One HTTPS request at a time over hyper's HTTP/1.1 client and tokio-rustls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::{CaUrl, ClientError};

/// How long connecting, the handshake and the whole exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The largest response body read (certificate chains and provisioner lists are small).
const MAX_BODY: usize = 4 << 20;

/// Sends one request to the CA and returns the parsed JSON of a 2xx answer; any other status
/// becomes [`ClientError::Server`] with the CA's `message`.
pub(crate) async fn call<T: DeserializeOwned>(
    url: &CaUrl,
    tls: &Arc<ClientConfig>,
    method: &str,
    route: &str,
    body: Option<&serde_json::Value>,
) -> Result<T, ClientError> {
    call_authorized(url, tls, method, route, body, None).await
}

/// [`call`] with an `Authorization` header (the admin API's `Bearer <token>`).
pub(crate) async fn call_authorized<T: DeserializeOwned>(
    url: &CaUrl,
    tls: &Arc<ClientConfig>,
    method: &str,
    route: &str,
    body: Option<&serde_json::Value>,
    authorization: Option<&str>,
) -> Result<T, ClientError> {
    let operation = format!("{method} {route}");
    let exchange = exchange(url, tls, method, route, body, authorization);
    let (status, bytes) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| ClientError::Unreachable {
            url: url.to_string(),
            reason: format!("no answer to {operation} within {}s", TIMEOUT.as_secs()),
        })??;
    if !(200..300).contains(&status) {
        return Err(ClientError::Server {
            operation,
            status,
            message: server_message(&bytes),
        });
    }
    serde_json::from_slice(&bytes).map_err(|e| ClientError::BadResponse {
        operation,
        reason: format!("{e} in {:?}", server_message(&bytes)),
    })
}

async fn exchange(
    url: &CaUrl,
    tls: &Arc<ClientConfig>,
    method: &str,
    route: &str,
    body: Option<&serde_json::Value>,
    authorization: Option<&str>,
) -> Result<(u16, Bytes), ClientError> {
    let unreachable = |reason: String| ClientError::Unreachable {
        url: url.to_string(),
        reason,
    };
    let tcp = tokio::net::TcpStream::connect((url.host(), url.port()))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let name = ServerName::try_from(url.host().to_owned())
        .map_err(|e| unreachable(format!("host name: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::clone(tls))
        .connect(name, tcp)
        .await
        .map_err(|e| unreachable(format!("TLS handshake: {e}")))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let driver = tokio::spawn(connection);
    let payload = match body {
        Some(json) => Bytes::from(json.to_string()),
        None => Bytes::new(),
    };
    let mut request = Request::builder()
        .method(method)
        .uri(url.path(route))
        .header(HOST, url.authority())
        .header(CONTENT_TYPE, "application/json");
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    let request = request
        .body(Full::new(payload))
        .map_err(|e| unreachable(format!("building the request: {e}")))?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| unreachable(format!("reading the answer: {e}")))?
        .to_bytes();
    driver.abort();
    Ok((status, bytes))
}

/// step-ca's error body: `{"status": N, "message": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

fn server_message(body: &[u8]) -> String {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.message,
        Err(_) => {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            if text.is_empty() {
                "(no message)".to_owned()
            } else {
                text.chars().take(500).collect()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_step_error_bodies_and_plain_text() {
        assert_eq!(
            server_message(br#"{"status":401,"message":"token already used"}"#),
            "token already used"
        );
        assert_eq!(server_message(b"  not found\n"), "not found");
        assert_eq!(server_message(b""), "(no message)");
    }
}
