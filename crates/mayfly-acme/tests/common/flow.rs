//! One complete order: newOrder -> challenges answered by the responders -> finalize ->
//! download.

use mayfly_keys::{KeyType, PrivateKey};
use mayfly_template::San;
use serde_json::{Value, json};

use super::client::{Client, b64};
use super::responders::Responders;

pub struct Issued {
    pub order_path: String,
    pub chain_pem: String,
    pub key: PrivateKey,
}

pub fn ids(names: &[&str]) -> Value {
    let list: Vec<Value> = names
        .iter()
        .map(|n| {
            let kind = if n.parse::<std::net::IpAddr>().is_ok() {
                "ip"
            } else {
                "dns"
            };
            json!({"type": kind, "value": n})
        })
        .collect();
    json!(list)
}

/// Answers every authorization of the order at `order_path` with `challenge` and waits
/// until they are valid; returns the order once ready.
pub async fn authorize(client: &Client, responders: &Responders, order: &Value, challenge: &str) {
    for authz_url in order["authorizations"].as_array().unwrap() {
        let authz_path = client.path_of(authz_url.as_str().unwrap());
        let authz = client.post(&authz_path, None).await;
        assert_eq!(authz.status, 200, "{}", authz.json);
        let name = authz.json["identifier"]["value"]
            .as_str()
            .unwrap()
            .to_owned();
        let chall = authz.json["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == challenge)
            .unwrap_or_else(|| panic!("no {challenge} in {}", authz.json))
            .clone();
        let token = chall["token"].as_str().unwrap();
        let key_auth = client.key_authorization(token);
        match challenge {
            "http-01" => responders.set_http(token, &key_auth),
            "dns-01" => responders.set_txt(&name, &key_auth),
            "tls-alpn-01" => responders.set_tls(&name, &key_auth),
            other => panic!("{other}"),
        }
        let chall_path = client.path_of(chall["url"].as_str().unwrap());
        let started = client.post(&chall_path, Some(json!({}))).await;
        assert_eq!(started.status, 200, "{}", started.json);
        // The answer waits for the first check, which succeeds at once here.
        assert_eq!(started.json["status"], "valid", "{}", started.json);
        let links: Vec<&str> = started
            .raw
            .headers
            .iter()
            .filter(|(name, _)| name == "Link")
            .map(|(_, value)| value.as_str())
            .collect();
        let up = format!("<{}{authz_path}>;rel=\"up\"", client.base());
        let index = format!("<{}/directory>;rel=\"index\"", client.base());
        assert_eq!(links, [up.as_str(), index.as_str()]);
        let done = client.poll(&authz_path).await;
        assert_eq!(done.json["status"], "valid", "{}", done.json);
    }
}

pub async fn issue(
    client: &Client,
    responders: &Responders,
    names: &[&str],
    challenge: &str,
) -> Issued {
    let order = json!({"identifiers": ids(names)});
    issue_order(client, responders, order, names, challenge).await
}

/// Like [`issue`], with the newOrder payload given whole (`notBefore`, `notAfter`).
pub async fn issue_order(
    client: &Client,
    responders: &Responders,
    new_order: Value,
    names: &[&str],
    challenge: &str,
) -> Issued {
    let created = client.post("/new-order", Some(new_order)).await;
    assert_eq!(created.status, 201, "{}", created.json);
    let order_path = client.path_of(created.location.as_deref().unwrap());
    authorize(client, responders, &created.json, challenge).await;
    let ready = client.poll(&order_path).await;
    assert_eq!(ready.json["status"], "ready", "{}", ready.json);
    let key = PrivateKey::generate(KeyType::default()).unwrap();
    let sans: Vec<San> = names.iter().map(|n| San::guess(n)).collect();
    let csr = mayfly_template::build_request("", &sans, &key).unwrap();
    let finalize = client.path_of(ready.json["finalize"].as_str().unwrap());
    let finalized = client
        .post(&finalize, Some(json!({"csr": b64(&csr)})))
        .await;
    assert_eq!(finalized.status, 200, "{}", finalized.json);
    let valid = client.poll(&order_path).await;
    assert_eq!(valid.json["status"], "valid", "{}", valid.json);
    let cert_path = client.path_of(valid.json["certificate"].as_str().unwrap());
    let cert = client.post(&cert_path, None).await;
    assert_eq!(cert.status, 200);
    assert_eq!(
        cert.raw.header("Content-Type"),
        Some("application/pem-certificate-chain")
    );
    Issued {
        order_path,
        chain_pem: String::from_utf8(cert.raw.body.clone()).unwrap(),
        key,
    }
}
