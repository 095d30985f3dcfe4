//! A minimal ACME client driving `AcmeService::handle` directly.

use std::time::Duration;

use base64::Engine;
use mayfly_acme::{AcmeHttpRequest, AcmeHttpResponse, AcmeService};
use mayfly_jwt::Jwk;
use mayfly_keys::{PrivateKey, Signer};
use serde_json::{Value, json};

use super::BASE;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

pub struct Client {
    pub service: AcmeService,
    pub provisioner: String,
    pub key: PrivateKey,
    pub kid: Option<String>,
}

pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub json: Value,
    pub raw: AcmeHttpResponse,
}

impl Reply {
    pub fn problem(&self) -> &str {
        self.json["type"].as_str().unwrap_or("")
    }
}

impl Client {
    pub fn new(service: AcmeService, provisioner: &str, key: PrivateKey) -> Self {
        Self {
            service,
            provisioner: provisioner.into(),
            key,
            kid: None,
        }
    }

    /// The same account (key and kid) on another service instance.
    pub fn on(&self, service: AcmeService) -> Self {
        let key = PrivateKey::from_pkcs8_der(&self.key.to_pkcs8_der().unwrap()).unwrap();
        Self {
            service,
            provisioner: self.provisioner.clone(),
            key,
            kid: self.kid.clone(),
        }
    }

    pub fn base(&self) -> String {
        format!("{BASE}/{}", self.provisioner)
    }

    pub async fn raw(&self, method: &str, path: &str, body: Vec<u8>) -> AcmeHttpResponse {
        self.service
            .handle(AcmeHttpRequest {
                method: method.into(),
                path: path.into(),
                provisioner: self.provisioner.clone(),
                base_url: self.base(),
                content_type: Some("application/jose+json".into()),
                body,
            })
            .await
    }

    pub async fn nonce(&self) -> String {
        let r = self.raw("HEAD", "/new-nonce", Vec::new()).await;
        assert_eq!(r.status, 200);
        r.header("Replay-Nonce").unwrap().to_owned()
    }

    /// A flattened JWS over `payload` (None: POST-as-GET) signed by `key`.
    pub fn jws(
        key: &PrivateKey,
        kid: Option<&str>,
        nonce: Option<&str>,
        url: &str,
        payload: Option<&Value>,
    ) -> Value {
        let mut header = json!({"alg": key.algorithm().jws_name(), "url": url});
        if let Some(n) = nonce {
            header["nonce"] = json!(n);
        }
        match kid {
            Some(kid) => header["kid"] = json!(kid),
            None => {
                let jwk = Jwk::from_public_key(key.public_key()).unwrap();
                header["jwk"] = serde_json::from_str(&jwk.to_json().unwrap()).unwrap();
            }
        }
        let protected = b64(header.to_string().as_bytes());
        let payload = payload
            .map(|p| b64(p.to_string().as_bytes()))
            .unwrap_or_default();
        let signature = key
            .sign_jws(format!("{protected}.{payload}").as_bytes())
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": b64(&signature)})
    }

    /// POSTs `payload` to `path` with a fresh nonce, signed with the kid once registered.
    pub async fn post(&self, path: &str, payload: Option<Value>) -> Reply {
        let nonce = self.nonce().await;
        self.post_with_nonce(path, payload, &nonce).await
    }

    pub async fn post_with_nonce(&self, path: &str, payload: Option<Value>, nonce: &str) -> Reply {
        let url = format!("{}{path}", self.base());
        let body = Self::jws(
            &self.key,
            self.kid.as_deref(),
            Some(nonce),
            &url,
            payload.as_ref(),
        );
        self.send(path, &body).await
    }

    pub async fn send(&self, path: &str, body: &Value) -> Reply {
        let raw = self.raw("POST", path, body.to_string().into_bytes()).await;
        let json = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
        Reply {
            status: raw.status,
            location: raw.header("Location").map(str::to_owned),
            json,
            raw,
        }
    }

    pub fn path_of(&self, url: &str) -> String {
        url.strip_prefix(&self.base())
            .unwrap_or_else(|| panic!("{url} is not under {}", self.base()))
            .to_owned()
    }

    pub async fn register(&mut self) -> Reply {
        let r = self
            .post(
                "/new-account",
                Some(json!({"termsOfServiceAgreed": true, "contact": ["mailto:ops@example.test"]})),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        self.kid = r.location.clone();
        r
    }

    pub fn key_authorization(&self, token: &str) -> String {
        let jwk = Jwk::from_public_key(self.key.public_key()).unwrap();
        mayfly_jwt::key_authorization(token, &jwk).unwrap()
    }

    /// Polls `path` until its status leaves pending/processing.
    pub async fn poll(&self, path: &str) -> Reply {
        for _ in 0..200 {
            let r = self.post(path, None).await;
            let status = r.json["status"].as_str().unwrap_or("");
            if status != "pending" && status != "processing" {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{path} stayed pending");
    }
}
