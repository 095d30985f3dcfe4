//! End-to-end ACME flows against `AcmeService::handle` with a real Authority, SQLite (and
//! PostgreSQL for the concurrency test) and real challenge responders on 127.0.0.1.

#![allow(clippy::unwrap_used, reason = "test assertions")]

mod common;

use std::process::Command;

use common::client::Reply;
use common::flow::{authorize, ids, issue, issue_order};
use common::{Ca, Client, Db};
use mayfly_keys::{KeyType, PrivateKey};
use mayfly_store::{AcmeKind, AcmeStore, CertificateStore};
use mayfly_template::Certificate;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

const URN: &str = "urn:ietf:params:acme:error:";

/// Checks the downloaded chain with `openssl verify` against the test root and returns the
/// leaf's text.
fn openssl_verify(ca: &Ca, chain_pem: &str, name: &str) -> String {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return String::new();
    };
    let certs: Vec<&str> = chain_pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .collect();
    assert_eq!(certs.len(), 2, "leaf + intermediate expected:\n{chain_pem}");
    let root = mayfly_testkit::write_file(
        ca.dir.path(),
        "root.pem",
        mayfly_template::certificate_to_pem(&ca.root).unwrap(),
    );
    let leaf = mayfly_testkit::write_file(ca.dir.path(), &format!("{name}.pem"), certs[0]);
    let int = mayfly_testkit::write_file(ca.dir.path(), "int.pem", certs[1]);
    let out = mayfly_testkit::run_ok(
        Command::new(&openssl)
            .arg("verify")
            .arg("-purpose")
            .arg("sslserver")
            .arg("-CAfile")
            .arg(&root)
            .arg("-untrusted")
            .arg(&int)
            .arg(&leaf),
    );
    assert!(out.contains(": OK"), "{out}");
    mayfly_testkit::run_ok(
        Command::new(&openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&leaf),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_order_for_dns_and_ip_names_gets_a_chain_openssl_verifies() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    let dir = client.raw("GET", "/directory", Vec::new()).await;
    let dir: serde_json::Value = serde_json::from_slice(&dir.body).unwrap();
    assert_eq!(dir["newOrder"], format!("{}/new-order", client.base()));
    assert_eq!(dir["meta"]["externalAccountRequired"], false);
    client.register().await;
    let issued = issue(
        &client,
        &ca.responders,
        &["app.example.test", "127.0.0.1"],
        "http-01",
    )
    .await;
    let text = openssl_verify(&ca, &issued.chain_pem, "http01");
    assert!(
        text.contains("DNS:app.example.test") && text.contains("IP Address:127.0.0.1"),
        "{text}"
    );
    // Never an IP address (nor, without forceCN, anything) in the subject CN.
    assert!(
        !text.contains("CN=127.0.0.1") && !text.contains("CN = 127.0.0.1"),
        "{text}"
    );
    // The orders list holds it; a second account cannot see it.
    let kid = client.kid.clone().unwrap();
    let list = client
        .post(&format!("{}/orders", client.path_of(&kid)), None)
        .await;
    assert_eq!(list.json["orders"].as_array().unwrap().len(), 1);
    let mut other = ca.client("acme");
    other.register().await;
    let peek = other.post(&issued.order_path, None).await;
    assert_eq!(peek.status, 404, "{}", peek.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns01_wildcard_order_validates_against_the_configured_resolver() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let created = client
        .post(
            "/new-order",
            Some(json!({"identifiers": ids(&["*.wild.test"])})),
        )
        .await;
    let authz = client
        .post(
            &client.path_of(created.json["authorizations"][0].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(authz.json["wildcard"], true);
    assert_eq!(authz.json["identifier"]["value"], "wild.test");
    let kinds: Vec<&str> = authz.json["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["dns-01"], "wildcards are dns-01 only");
    let issued = issue(
        &client,
        &ca.responders,
        &["*.wild.test", "wild.test"],
        "dns-01",
    )
    .await;
    let text = openssl_verify(&ca, &issued.chain_pem, "dns01");
    assert!(text.contains("DNS:*.wild.test"), "{text}");
}

/// tls-alpn-01 validates against a responder speaking TLS 1.3, and one speaking TLS 1.2 only
/// (the handshake signature is then checked against the certificate's key by the scheme's
/// algorithm).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_checks_the_acme_identifier_certificate_over_tls13_and_tls12() {
    let ca = Ca::new(Db::Sqlite).await;
    for (provisioner, name) in [
        ("acme", "tls.example.test"),
        ("tls12", "tls12.example.test"),
    ] {
        let mut client = ca.client(provisioner);
        client.register().await;
        let issued = issue(&client, &ca.responders, &[name], "tls-alpn-01").await;
        openssl_verify(&ca, &issued.chain_pem, provisioner);
    }
}

/// RFC 8737 section 3: the certificate must name the identifier alone and carry the
/// critical acmeIdentifier extension with the key authorization's digest; each way of
/// getting one of these wrong leaves the authorization invalid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_refuses_certificates_that_do_not_prove_the_key_authorization() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let wrong_digest = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        [[0x04, 0x20].as_slice(), &[0; 32]].concat(),
    );
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: [(&str, Edit); 4] = [
        ("no-extension", Box::new(|p| p["extensions"] = json!([]))),
        (
            "not-critical",
            Box::new(|p| p["extensions"][0]["critical"] = json!(false)),
        ),
        (
            "wrong-digest",
            Box::new(move |p| p["extensions"][0]["value"] = json!(wrong_digest.clone())),
        ),
        (
            "two-names",
            Box::new(|p| p["dnsNames"] = json!([p["dnsNames"][0], "other.tls.test"])),
        ),
    ];
    for (case, edit) in cases {
        let name = format!("{case}.tls.test");
        let created = client
            .post("/new-order", Some(json!({"identifiers": ids(&[&name])})))
            .await;
        let authz_path = client.path_of(created.json["authorizations"][0].as_str().unwrap());
        let authz = client.post(&authz_path, None).await;
        let chall = authz.json["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "tls-alpn-01")
            .unwrap()
            .clone();
        let key_auth = client.key_authorization(chall["token"].as_str().unwrap());
        let mut profile = common::responders::acme_identifier_profile(&name, &key_auth);
        edit(&mut profile);
        ca.responders.set_tls_certificate(&name, &profile);
        let error = answer_and_expect_invalid(&client, &chall, &authz_path).await;
        assert_eq!(
            error["type"],
            format!("{URN}incorrectResponse"),
            "{case}: {error}"
        );
    }
}

/// Answers challenge `chall` and waits for its authorization at `authz_path` to end
/// `invalid`: the challenge's error.
async fn answer_and_expect_invalid(client: &Client, chall: &Value, authz_path: &str) -> Value {
    client
        .post(
            &client.path_of(chall["url"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    let done = client.poll(authz_path).await;
    assert_eq!(done.json["status"], "invalid", "{}", done.json);
    done.json["challenges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == chall["type"])
        .unwrap()["error"]
        .clone()
}

/// Addresses are tried IPv6 first, then IPv4: a name with both records validates against a
/// responder listening on 127.0.0.1 only, and a name with an AAAA record alone is tried at
/// [::1] (where nothing listens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_tries_the_ipv6_address_then_the_ipv4_one() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, created) = new_order(&ca, "http-only", &["dual.v6.test"]).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;

    let (client, _, authz_path, authz) = http_only_order(&ca, "only.v6only.test").await;
    let chall = &authz.json["challenges"][0];
    let token = chall["token"].as_str().unwrap();
    ca.responders
        .set_http(token, &client.key_authorization(token));
    let error = answer_and_expect_invalid(&client, chall, &authz_path).await;
    assert_eq!(error["type"], format!("{URN}connection"), "{error}");
    assert!(
        error["detail"].as_str().unwrap().contains("[::1]:"),
        "{error}"
    );
}

/// A client registered with `provisioner` and its new order for `names`.
async fn new_order(ca: &Ca, provisioner: &str, names: &[&str]) -> (Client, Reply) {
    let mut client = ca.client(provisioner);
    client.register().await;
    let created = client
        .post("/new-order", Some(json!({"identifiers": ids(names)})))
        .await;
    (client, created)
}

/// A registered `http-only` client with a new order for `name`: the order, the path of its
/// authorization and that authorization as fetched.
async fn http_only_order(ca: &Ca, name: &str) -> (Client, Reply, String, Reply) {
    let (client, created) = new_order(ca, "http-only", &[name]).await;
    let authz_path = client.path_of(created.json["authorizations"][0].as_str().unwrap());
    let authz = client.post(&authz_path, None).await;
    (client, created, authz_path, authz)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_http01_answer_makes_the_authorization_and_order_invalid() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, created, authz_path, authz) = http_only_order(&ca, "bad.example.test").await;
    let chall = &authz.json["challenges"][0];
    assert_eq!(
        authz.json["challenges"].as_array().unwrap().len(),
        1,
        "only http-01 is allowed"
    );
    ca.responders.set_http(
        chall["token"].as_str().unwrap(),
        "not-the-key-authorization",
    );
    let answered = client
        .post(
            &client.path_of(chall["url"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    // The first check failed and retries remain: the answer does not wait for them.
    assert_eq!(answered.json["status"], "processing", "{}", answered.json);
    assert_eq!(answered.raw.header("Retry-After"), Some("1"));
    let done = client.poll(&authz_path).await;
    assert_eq!(done.json["status"], "invalid");
    assert_eq!(
        done.json["challenges"][0]["error"]["type"],
        format!("{URN}incorrectResponse")
    );
    let order = client
        .post(&client.path_of(created.location.as_deref().unwrap()), None)
        .await;
    assert_eq!(order.json["status"], "invalid");
    // Finalizing a non-ready order is orderNotReady.
    let fin = client
        .post(
            &client.path_of(order.json["finalize"].as_str().unwrap()),
            Some(json!({"csr": "AA"})),
        )
        .await;
    assert_eq!(fin.problem(), format!("{URN}orderNotReady"));
}

/// Rewrites a stored ACME object as a CA that stopped mid-way would have left it: `status`,
/// and `edit` applied to its document.
async fn leave_as_interrupted(
    ca: &Ca,
    kind: AcmeKind,
    id: &str,
    status: &str,
    edit: impl FnOnce(&mut serde_json::Value),
) {
    let store = ca.authority.store();
    let mut object = store.object(kind, id).await.unwrap().unwrap();
    let mut data: serde_json::Value = serde_json::from_str(&object.data).unwrap();
    edit(&mut data);
    object.data = data.to_string();
    object.status = status.into();
    assert!(store.update_object(kind, object).await.unwrap());
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

/// Two finalizations of one ready order at once: the order turns valid in the certificate's
/// own transaction, so exactly one is issued and the loser is told the order is no longer
/// ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_finalizations_racing_on_one_order_issue_one_certificate() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, created) = new_order(&ca, "acme", &["race.example.test"]).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let order_path = client.path_of(created.location.as_deref().unwrap());
    let store = ca.authority.store();
    let before = store.list_certificates(None, 1000).await.unwrap().len();
    let finalize = || async {
        let key = PrivateKey::generate(KeyType::default()).unwrap();
        let name = mayfly_template::San::guess("race.example.test");
        let csr = mayfly_template::build_request("", &[name], &key).unwrap();
        let payload = json!({"csr": common::client::b64(&csr)});
        client
            .post(&format!("{order_path}/finalize"), Some(payload))
            .await
    };
    let (a, b) = tokio::join!(finalize(), finalize());
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 403], "{} / {}", a.json, b.json);
    let lost = if a.status == 403 { &a } else { &b };
    assert_eq!(
        lost.problem(),
        format!("{URN}orderNotReady"),
        "{}",
        lost.json
    );
    let after = store.list_certificates(None, 1000).await.unwrap().len();
    assert_eq!(after, before + 1, "one certificate for one order");
    let order = client.post(&order_path, None).await;
    assert_eq!(order.json["status"], "valid", "{}", order.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_validation_a_stopped_ca_left_processing_is_resumed_and_a_running_one_is_not() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("http-only");
    client.register().await;
    let names = ["resumed.example.test", "running.example.test"];
    let created = client
        .post("/new-order", Some(json!({"identifiers": ids(&names)})))
        .await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut authz_paths = Vec::new();
    for (url, since) in created.json["authorizations"]
        .as_array()
        .unwrap()
        .iter()
        .zip([now - 3600, now])
    {
        let path = client.path_of(url.as_str().unwrap());
        let authz = client.post(&path, None).await;
        let token = authz.json["challenges"][0]["token"].as_str().unwrap();
        ca.responders
            .set_http(token, &client.key_authorization(token));
        // The client answered, the CA marked the challenge processing, then stopped.
        leave_as_interrupted(
            &ca,
            AcmeKind::Authorization,
            last_segment(&path),
            "pending",
            |d| {
                d["challenges"][0]["status"] = json!("processing");
                d["challenges"][0]["processing_since"] = json!(since);
            },
        )
        .await;
        authz_paths.push((path, authz.json["identifier"]["value"].clone()));
    }
    let (resumed, running) = (&authz_paths[0], &authz_paths[1]);
    let done = client.poll(&resumed.0).await;
    assert_eq!(done.json["status"], "valid", "{}", done.json);
    assert_eq!(done.json["identifier"]["value"], resumed.1);
    let still = client.post(&running.0, None).await;
    assert_eq!(still.json["status"], "pending", "{}", still.json);
    assert_eq!(still.json["challenges"][0]["status"], "processing");
    let chall_url = still.json["challenges"][0]["url"].as_str().unwrap();
    let chall = client.post(&client.path_of(chall_url), None).await;
    assert_eq!(chall.json["status"], "processing", "{}", chall.json);
    assert_eq!(chall.raw.header("Retry-After"), Some("1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_refuses_a_csr_whose_names_differ_and_the_order_stays_ready() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, created) = new_order(&ca, "acme", &["csr.example.test"]).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let key = PrivateKey::generate(KeyType::default()).unwrap();
    let (order_path, fin) =
        finalize_with(&client, &created, "", &["other.example.test"], &key).await;
    assert_problem(&fin, "badCSR", "not exactly the order's identifiers");
    assert_eq!(client.post(&order_path, None).await.json["status"], "ready");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_validity_window_reaches_the_certificate_within_the_claims() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap();
    let text = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap();
    let (start, end) = (
        now + time::Duration::minutes(10),
        now + time::Duration::hours(2),
    );
    let order = json!({"identifiers": ids(&["window.example.test"]),
        "notBefore": text(start), "notAfter": text(end)});
    let issued = issue_order(
        &client,
        &ca.responders,
        order,
        &["window.example.test"],
        "http-01",
    )
    .await;
    let leaf = &Certificate::load_pem_chain(issued.chain_pem.as_bytes()).unwrap()[0];
    let validity = leaf.tbs_certificate().validity();
    assert_eq!(
        validity.not_before.to_unix_duration().as_secs(),
        start.unix_timestamp() as u64
    );
    assert_eq!(
        validity.not_after.to_unix_duration().as_secs(),
        end.unix_timestamp() as u64
    );

    // What finalize could never issue is refused at newOrder, naming the problem.
    for (window, says) in [
        (
            json!({"notAfter": text(now + time::Duration::days(30))}),
            "longer than",
        ),
        (
            json!({"notBefore": text(end), "notAfter": text(start)}),
            "before notBefore",
        ),
        (json!({"notAfter": "tomorrow"}), "RFC 3339"),
    ] {
        let mut order = window;
        order["identifiers"] = ids(&["window.example.test"]);
        let refused = client.post("/new-order", Some(order)).await;
        assert_eq!(
            refused.problem(),
            format!("{URN}malformed"),
            "{}",
            refused.json
        );
        assert!(
            refused.json["detail"].as_str().unwrap().contains(says),
            "{}",
            refused.json
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eab_required_provisioner_refuses_accounts_without_binding() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("eab");
    let dir: serde_json::Value =
        serde_json::from_slice(&client.raw("GET", "/directory", Vec::new()).await.body).unwrap();
    assert_eq!(dir["meta"]["externalAccountRequired"], true);
    let refused = client
        .post("/new-account", Some(json!({"termsOfServiceAgreed": true})))
        .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.problem(), format!("{URN}externalAccountRequired"));

    let (kid, hmac) = ca.service.create_eab_key("eab").await.unwrap();
    let url = format!("{}/new-account", client.base());
    let eab = |hmac_key: &[u8]| {
        let jwk =
            mayfly_jwt::Jwk::from_public_key(mayfly_keys::Signer::public_key(&client.key)).unwrap();
        let protected = common::client::b64(
            json!({"alg": "HS256", "kid": kid, "url": url})
                .to_string()
                .as_bytes(),
        );
        let payload = common::client::b64(jwk.to_json().unwrap().as_bytes());
        let mac = hmac_sha256(hmac_key, format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": common::client::b64(&mac)})
    };
    let wrong = client
        .post(
            "/new-account",
            Some(json!({"externalAccountBinding": eab(b"wrong key")})),
        )
        .await;
    assert_eq!(
        wrong.problem(),
        format!("{URN}unauthorized"),
        "{}",
        wrong.json
    );
    let hmac_key = common::client::unb64(&hmac);
    let ok = client
        .post(
            "/new-account",
            Some(json!({"externalAccountBinding": eab(&hmac_key)})),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.json);
    client.kid = ok.location.clone();
    // The key is single-use: another account cannot bind it.
    let mut second = ca.client("eab");
    second.kid = None;
    let url2 = format!("{}/new-account", second.base());
    let jwk2 =
        mayfly_jwt::Jwk::from_public_key(mayfly_keys::Signer::public_key(&second.key)).unwrap();
    let protected = common::client::b64(
        json!({"alg": "HS256", "kid": kid, "url": url2})
            .to_string()
            .as_bytes(),
    );
    let payload = common::client::b64(jwk2.to_json().unwrap().as_bytes());
    let mac = hmac_sha256(&hmac_key, format!("{protected}.{payload}").as_bytes());
    let reused = second.post("/new-account", Some(json!({"externalAccountBinding": {"protected": protected, "payload": payload, "signature": common::client::b64(&mac)}}))).await;
    assert_eq!(
        reused.problem(),
        format!("{URN}unauthorized"),
        "{}",
        reused.json
    );
    issue(&client, &ca.responders, &["eab.example.test"], "http-01").await;
}

fn hmac_sha256(key: &[u8], msg: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonces_are_refused_only_when_reused_forged_or_unknown() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let nonce = client.nonce().await;
    let first = client
        .post_with_nonce(
            "/new-order",
            Some(json!({"identifiers": ids(&["n.example.test"])})),
            &nonce,
        )
        .await;
    assert_eq!(first.status, 201);
    let replay = client
        .post_with_nonce(
            "/new-order",
            Some(json!({"identifiers": ids(&["n.example.test"])})),
            &nonce,
        )
        .await;
    assert_eq!(replay.status, 400);
    assert_eq!(replay.problem(), format!("{URN}badNonce"));
    assert!(
        replay.raw.header("Replay-Nonce").is_some(),
        "a badNonce reply carries a fresh nonce"
    );
    let forged = client
        .post_with_nonce(
            "/new-order",
            Some(json!({"identifiers": ids(&["n.example.test"])})),
            "bm90LWEtbm9uY2U",
        )
        .await;
    assert_eq!(forged.problem(), format!("{URN}badNonce"));
    // A nonce from another instance sharing the store is good here.
    let twin = mayfly_acme::AcmeService::new(
        std::sync::Arc::clone(&ca.authority),
        mayfly_acme::AcmeOptions::from_store(ca.authority.store())
            .await
            .unwrap(),
    );
    let twin_client = client.on(twin);
    let other_nonce = twin_client.nonce().await;
    let cross = client
        .post_with_nonce(
            "/new-order",
            Some(json!({"identifiers": ids(&["n.example.test"])})),
            &other_nonce,
        )
        .await;
    assert_eq!(cross.status, 201, "{}", cross.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rollover_moves_the_account_to_the_new_key() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let kid = client.kid.clone().unwrap();
    let new_key = PrivateKey::generate(KeyType::EcP384).unwrap();
    let url = format!("{}/key-change", client.base());
    let old_jwk: serde_json::Value = serde_json::from_str(
        &mayfly_jwt::Jwk::from_public_key(mayfly_keys::Signer::public_key(&client.key))
            .unwrap()
            .to_json()
            .unwrap(),
    )
    .unwrap();
    let inner = Client::jws(
        &new_key,
        None,
        None,
        &url,
        Some(&json!({"account": kid, "oldKey": old_jwk})),
    );
    let changed = client.post("/key-change", Some(inner)).await;
    assert_eq!(changed.status, 200, "{}", changed.json);
    // The old key no longer finds or signs for the account.
    let stale = client.post(&client.path_of(&kid), None).await;
    assert_eq!(
        stale.problem(),
        format!("{URN}unauthorized"),
        "{}",
        stale.json
    );
    let mut old = Client::new(
        ca.service.clone(),
        "acme",
        PrivateKey::from_pkcs8_der(&client.key.to_pkcs8_der().unwrap()).unwrap(),
    );
    old.kid = None;
    let lookup = old
        .post("/new-account", Some(json!({"onlyReturnExisting": true})))
        .await;
    assert_eq!(lookup.problem(), format!("{URN}accountDoesNotExist"));
    // The new key does.
    let mut renewed = Client::new(ca.service.clone(), "acme", new_key);
    let found = renewed
        .post("/new-account", Some(json!({"onlyReturnExisting": true})))
        .await;
    assert_eq!(found.status, 200, "{}", found.json);
    assert_eq!(found.location.as_deref(), Some(kid.as_str()));
    renewed.kid = Some(kid);
    issue(
        &renewed,
        &ca.responders,
        &["rolled.example.test"],
        "http-01",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivated_account_can_no_longer_order() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let path = client.path_of(&client.kid.clone().unwrap());
    let updated = client
        .post(&path, Some(json!({"contact": ["mailto:new@example.test"]})))
        .await;
    assert_eq!(updated.json["contact"][0], "mailto:new@example.test");
    // Work left pending is cancelled with the account (RFC 8555 section 7.3.6).
    let pending = client
        .post(
            "/new-order",
            Some(json!({"identifiers": ids(&["left.example.test"])})),
        )
        .await;
    let off = client
        .post(&path, Some(json!({"status": "deactivated"})))
        .await;
    assert_eq!(off.json["status"], "deactivated");
    let store = ca.authority.store();
    let order = store
        .object(
            AcmeKind::Order,
            last_segment(pending.location.as_deref().unwrap()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.status, "invalid");
    assert!(order.data.contains("deactivated"), "{}", order.data);
    let authz_url = pending.json["authorizations"][0].as_str().unwrap();
    let authz = store
        .object(AcmeKind::Authorization, last_segment(authz_url))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(authz.status, "deactivated");
    let refused = client
        .post(
            "/new-order",
            Some(json!({"identifiers": ids(&["x.example.test"])})),
        )
        .await;
    assert_eq!(refused.problem(), format!("{URN}unauthorized")); // Registering again with its key finds the account deactivated (RFC 8555 §7.3.6).
    let mut same_key = client.on(ca.service.clone());
    same_key.kid = None;
    let again = same_key
        .post("/new-account", Some(json!({"termsOfServiceAgreed": true})))
        .await;
    assert_eq!(
        again.problem(),
        format!("{URN}unauthorized"),
        "{}",
        again.json
    );
}

/// The DER of the first certificate (the leaf) of a PEM chain.
fn leaf_der(pem: &str) -> Vec<u8> {
    let first = pem
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap();
    mayfly_template::certificate_to_der(&mayfly_template::parse_certificate_pem(first).unwrap())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_cert_by_account_and_by_certificate_key() {
    let ca = Ca::new(Db::Sqlite).await;
    let mut client = ca.client("acme");
    client.register().await;
    let a = issue(&client, &ca.responders, &["r1.example.test"], "http-01").await;
    let b = issue(&client, &ca.responders, &["r2.example.test"], "http-01").await;
    // Another account may not revoke it.
    let mut stranger = ca.client("acme");
    stranger.register().await;
    let body = json!({"certificate": common::client::b64(&leaf_der(&a.chain_pem)), "reason": 1});
    assert_eq!(
        stranger
            .post("/revoke-cert", Some(body.clone()))
            .await
            .problem(),
        format!("{URN}unauthorized")
    );
    // The ordering account may.
    let revoked = client.post("/revoke-cert", Some(body.clone())).await;
    assert_eq!(revoked.status, 200, "{}", revoked.json);
    assert_eq!(
        client.post("/revoke-cert", Some(body)).await.problem(),
        format!("{URN}alreadyRevoked")
    );
    // The certificate's own key may (JWS with jwk).
    let by_key = Client::new(ca.service.clone(), "acme", b.key);
    let body = json!({"certificate": common::client::b64(&leaf_der(&b.chain_pem)), "reason": 7});
    assert_eq!(
        by_key.post("/revoke-cert", Some(body)).await.problem(),
        format!("{URN}badRevocationReason")
    );
    let body = json!({"certificate": common::client::b64(&leaf_der(&b.chain_pem))});
    let revoked = by_key.post("/revoke-cert", Some(body)).await;
    assert_eq!(revoked.status, 200, "{}", revoked.json);
    // The CRL lists both.
    let crl = ca.authority.crl().await.unwrap();
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let crl_path = mayfly_testkit::write_file(ca.dir.path(), "crl.der", crl);
    let text = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
            .arg(crl_path),
    );
    assert_eq!(text.matches("Serial Number").count(), 2, "{text}");
}

/// 64 orders at once on one account, each through http-01, finalize and download: none
/// lost, none duplicated, all valid.
async fn concurrent_orders(db: Db) {
    let ca = Ca::new(db).await;
    let mut client = ca.client("acme");
    client.register().await;
    let client = std::sync::Arc::new(client);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..64 {
        let client = std::sync::Arc::clone(&client);
        let responders = std::sync::Arc::clone(&ca.responders);
        tasks.spawn(async move {
            let name = format!("host{i}.concurrent.test");
            issue(&client, &responders, &[name.as_str()], "http-01")
                .await
                .order_path
        });
    }
    let mut paths = Vec::new();
    while let Some(done) = tasks.join_next().await {
        paths.push(done.unwrap());
    }
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 64);
    let kid = client.kid.clone().unwrap();
    let list = client
        .post(&format!("{}/orders", client.path_of(&kid)), None)
        .await;
    let mut listed: Vec<String> = list.json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| client.path_of(u.as_str().unwrap()))
        .collect();
    listed.sort();
    assert_eq!(listed, paths);
    for path in &paths {
        assert_eq!(client.post(path, None).await.json["status"], "valid");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_orders_on_one_account_sqlite() {
    concurrent_orders(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_concurrent_orders_on_one_account_postgres() {
    concurrent_orders(Db::Postgres).await;
}

/// RFC 8555 §7.6 (3): an account that did not order a certificate may revoke it once it
/// holds valid authorizations for every one of its names, and not for only some of them
/// (a wildcard name is covered by the wildcard's authorization only).
#[tokio::test]
async fn revoke_cert_by_account_authorized_for_every_name() {
    use mayfly_store::RevocationStore as _;
    let ca = Ca::new(Db::Sqlite).await;
    let mut owner = ca.client("acme");
    owner.register().await;
    let one = issue(&owner, &ca.responders, &["shared.example.test"], "http-01").await;
    let two = issue(
        &owner,
        &ca.responders,
        &["pair1.example.test", "pair2.example.test"],
        "http-01",
    )
    .await;
    let wild = issue(&owner, &ca.responders, &["*.wild.example.test"], "dns-01").await;
    let serial_of = |der: &[u8]| {
        mayfly_authority::serial_hex(&mayfly_template::parse_certificate_der(der).unwrap())
    };
    let mut other = ca.client("acme");
    other.register().await;
    let other_id = other.kid.as_deref().unwrap().rsplit('/').next().unwrap();
    // Authorizes `names` on `other`'s own order, without finalizing it.
    let authorize_names = async |names: &[&str], challenge: &str| {
        let created = other
            .post("/new-order", Some(json!({"identifiers": ids(names)})))
            .await;
        assert_eq!(created.status, 201, "{}", created.json);
        authorize(&other, &ca.responders, &created.json, challenge).await;
    };
    let refused = async |der: &[u8], missing: &str| {
        let body = json!({"certificate": common::client::b64(der)});
        let reply = other.post("/revoke-cert", Some(body)).await;
        assert_eq!(reply.status, 403, "{}", reply.json);
        assert_eq!(reply.problem(), format!("{URN}unauthorized"));
        let detail = reply.json["detail"].as_str().unwrap();
        assert!(detail.contains(missing), "{detail}");
        let serial = serial_of(der);
        let record = ca.authority.store().revocation(&serial).await.unwrap();
        assert!(record.is_none(), "{serial} was revoked");
    };

    // Without any authorization: refused.
    let der = leaf_der(&one.chain_pem);
    refused(&der, "shared.example.test").await;
    // With a valid authorization for its only name: revoked.
    authorize_names(&["shared.example.test"], "http-01").await;
    let body = json!({"certificate": common::client::b64(&der), "reason": 4});
    let revoked = other.post("/revoke-cert", Some(body.clone())).await;
    assert_eq!(revoked.status, 200, "{}", revoked.json);
    let record = ca
        .authority
        .store()
        .revocation(&serial_of(&der))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.reason, 4);
    assert_eq!(
        record.revoked_by,
        format!("acme account {other_id} (authorized for every name)")
    );
    assert_eq!(
        other.post("/revoke-cert", Some(body)).await.problem(),
        format!("{URN}alreadyRevoked")
    );

    // Authorized for one of two names: refused, naming the other.
    let der = leaf_der(&two.chain_pem);
    authorize_names(&["pair1.example.test"], "http-01").await;
    refused(&der, "pair2.example.test").await;
    let revokes = async |der: &[u8]| {
        let body = json!({"certificate": common::client::b64(der)});
        let revoked = other.post("/revoke-cert", Some(body)).await;
        assert_eq!(revoked.status, 200, "{}", revoked.json);
    };
    // For both: revoked.
    authorize_names(&["pair2.example.test"], "http-01").await;
    revokes(&der).await;

    // The base name's authorization does not cover the wildcard; the wildcard's does.
    let der = leaf_der(&wild.chain_pem);
    authorize_names(&["wild.example.test"], "http-01").await;
    refused(&der, "*.wild.example.test").await;
    authorize_names(&["*.wild.example.test"], "dns-01").await;
    revokes(&der).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_order_refuses_names_outside_the_policy_before_any_challenge() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, refused) = new_order(&ca, "restricted", &["a.allowed.test", "b.other.test"]).await;
    assert_eq!(refused.problem(), format!("{URN}rejectedIdentifier"));
    let detail = refused.json["detail"].as_str().unwrap();
    assert!(detail.contains("b.other.test"), "{detail}");
    let kid = client.kid.clone().unwrap();
    let list = client
        .post(&format!("{}/orders", client.path_of(&kid)), None)
        .await;
    assert_eq!(list.json["orders"], json!([]), "no order was created");
    let allowed = client
        .post(
            "/new-order",
            Some(json!({"identifiers": ids(&["a.allowed.test"])})),
        )
        .await;
    assert_eq!(allowed.status, 201, "{}", allowed.json);
}

/// RFC 8738: an IP identifier never goes into the subject CN, even when the provisioner's
/// template would put it there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_cannot_put_an_ip_address_in_the_common_name() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, created) = new_order(&ca, "ip-cn", &["127.0.0.1"]).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let key = PrivateKey::generate(KeyType::default()).unwrap();
    let (order_path, fin) = finalize_with(&client, &created, "", &["127.0.0.1"], &key).await;
    assert_problem(&fin, "rejectedIdentifier", "IP address");
    assert_eq!(client.post(&order_path, None).await.json["status"], "ready");
}

/// Finalizes the ready order `created` of `client` with a CSR for `names` (CN `cn`) on `key`.
async fn finalize_with(
    client: &Client,
    created: &Reply,
    cn: &str,
    names: &[&str],
    key: &PrivateKey,
) -> (String, Reply) {
    let order_path = client.path_of(created.location.as_deref().unwrap());
    let sans: Vec<_> = names
        .iter()
        .map(|n| mayfly_template::San::guess(n))
        .collect();
    let csr = mayfly_template::build_request(cn, &sans, key).unwrap();
    let fin = client
        .post(
            &format!("{order_path}/finalize"),
            Some(json!({"csr": common::client::b64(&csr)})),
        )
        .await;
    (order_path, fin)
}

/// Asserts that `reply` is the problem `kind` and that its detail mentions `part`.
fn assert_problem(reply: &Reply, kind: &str, part: &str) {
    assert_eq!(reply.problem(), format!("{URN}{kind}"), "{}", reply.json);
    let detail = reply.json["detail"].as_str().unwrap_or("");
    assert!(detail.contains(part), "{}", reply.json);
}

/// The account key may not become a certificate key: a CSR on it is `badCSR`, and the order
/// stays ready for a CSR on a key of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finalize_refuses_a_csr_on_the_account_key() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, created) = new_order(&ca, "http-only", &["own-key.example.test"]).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let names = ["own-key.example.test"];
    let (order_path, fin) = finalize_with(&client, &created, "", &names, &client.key).await;
    assert_problem(&fin, "badCSR", "account key");
    assert_eq!(client.post(&order_path, None).await.json["status"], "ready");
    let key = PrivateKey::generate(KeyType::default()).unwrap();
    let (_, fin) = finalize_with(&client, &created, "", &names, &key).await;
    assert_eq!(fin.json["status"], "valid", "{}", fin.json);
}

/// RFC 8555 section 7.4: a DNS identifier may be requested in the CSR's common name alone,
/// and a common name the order does not hold makes the CSR's names differ (`badCSR`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csr_names_its_identifiers_in_the_common_name_or_the_sans() {
    let ca = Ca::new(Db::Sqlite).await;
    let name = "cn-only.example.test";
    let (client, created) = new_order(&ca, "http-only", &[name]).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let key = PrivateKey::generate(KeyType::default()).unwrap();
    let (order_path, fin) =
        finalize_with(&client, &created, "stray.example.test", &[name], &key).await;
    assert_eq!(fin.problem(), format!("{URN}badCSR"), "{}", fin.json);
    assert_eq!(client.post(&order_path, None).await.json["status"], "ready");
    let (_, fin) = finalize_with(&client, &created, name, &[], &key).await;
    assert_eq!(fin.json["status"], "valid", "{}", fin.json);
    let chain = client
        .post(
            &client.path_of(fin.json["certificate"].as_str().unwrap()),
            None,
        )
        .await;
    let leaf = leaf_der(&String::from_utf8(chain.raw.body.clone()).unwrap());
    assert!(
        leaf.windows(name.len()).any(|w| w == name.as_bytes()),
        "the certificate names {name}"
    );
}

/// Only validated names reach the certificate: a template cannot put a name the order does
/// not hold in the common name, and may put one it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_cannot_put_an_unvalidated_name_in_the_common_name() {
    let ca = Ca::new(Db::Sqlite).await;
    let key = PrivateKey::generate(KeyType::default()).unwrap();
    let names = ["cn.example.test"];
    let (client, created) = new_order(&ca, "fixed-cn", &names).await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let (order_path, fin) = finalize_with(&client, &created, "", &names, &key).await;
    assert_problem(&fin, "rejectedIdentifier", "fixed.example.test");
    assert_eq!(client.post(&order_path, None).await.json["status"], "ready");

    let names = ["cn2.example.test", "fixed.example.test"];
    let created = client
        .post("/new-order", Some(json!({"identifiers": ids(&names)})))
        .await;
    authorize(&client, &ca.responders, &created.json, "http-01").await;
    let (_, fin) = finalize_with(&client, &created, "", &names, &key).await;
    assert_eq!(fin.json["status"], "valid", "{}", fin.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_nonce_answers_head_and_get_uncached() {
    let ca = Ca::new(Db::Sqlite).await;
    let client = ca.client("acme");
    for (method, status) in [("HEAD", 200), ("GET", 204)] {
        let reply = client.raw(method, "/new-nonce", Vec::new()).await;
        assert_eq!(reply.status, status, "{method}");
        assert_eq!(reply.header("Cache-Control"), Some("no-store"), "{method}");
        assert!(reply.header("Replay-Nonce").is_some(), "{method}");
        let index = format!("<{}/directory>;rel=\"index\"", client.base());
        assert_eq!(reply.header("Link"), Some(index.as_str()), "{method}");
    }
}

/// A challenge whose first check fails is checked again in the background, and turns valid
/// once the client's responder answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_check_is_retried_until_the_answer_is_there() {
    let ca = Ca::new(Db::Sqlite).await;
    let (client, _, authz_path, authz) = http_only_order(&ca, "late.example.test").await;
    let chall = &authz.json["challenges"][0];
    let token = chall["token"].as_str().unwrap();
    // Nothing is served for the token yet: the first check gets a 404.
    let answered = client
        .post(
            &client.path_of(chall["url"].as_str().unwrap()),
            Some(json!({})),
        )
        .await;
    assert_eq!(answered.json["status"], "processing", "{}", answered.json);
    ca.responders
        .set_http(token, &client.key_authorization(token));
    let done = client.poll(&authz_path).await;
    assert_eq!(done.json["status"], "valid", "{}", done.json);
}
