//! The admin API over real sockets, curl as the client: who may call it (admin certificates,
//! admin tokens; anonymous, non-admin and revoked callers refused on every route), what an
//! ADMIN and a SUPER_ADMIN may do, provisioner validation, and the off switch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use common::{Pki, Reply, Running, curl, key_and_csr, post_json, provisioner_entry, token};
use mayfly_authority::config::CaConfig;
use mayfly_authority::{Admin, AdminType, db_config, put_admin};
use mayfly_jwt::{TokenClaims, mint_token};
use mayfly_keys::Password;
use mayfly_store::Store;
use serde_json::{Value, json};

/// SUPER_ADMIN through provisioner `mariano`.
const BOSS: &str = "boss.internal";
/// ADMIN through `mariano`.
const OPS: &str = "ops.internal";
/// SUPER_ADMIN whose certificate gets revoked.
const FIRED: &str = "fired.internal";
/// Holds a certificate of this CA but is no admin.
const NOBODY: &str = "nobody.internal";

/// The fixture CA with remote management on and the four subjects above as admins.
fn admin_pki() -> Pki {
    let pki = Pki::new(json!({
        "authority": {"provisioners": [provisioner_entry("mariano")], "enableAdmin": true}
    }));
    let config = CaConfig::load(&pki.config).unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let store = Store::open(&db_config(&config).unwrap()).await.unwrap();
            for (subject, kind) in [
                (BOSS, AdminType::SuperAdmin),
                (OPS, AdminType::Admin),
                (FIRED, AdminType::SuperAdmin),
            ] {
                put_admin(&store, &Admin::new(subject, "mariano", kind))
                    .await
                    .unwrap();
            }
        });
    pki
}

/// A certificate for `cn` from provisioner `mariano`: (chain file, key file).
fn certificate(server: &Running, pki: &Pki, cn: &str) -> (PathBuf, PathBuf) {
    let (key, csr) = key_and_csr(pki.dir.path(), cn);
    let body = json!({"csr": csr, "ott": token("mariano", cn, "sign")});
    let reply = post_json(&server.url("/1.0/sign"), &pki.root, &body, &[]).unwrap();
    assert_eq!(reply.status, 201, "{}", text(&reply));
    let chain: Vec<String> = reply.json()["certChain"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let path = pki.path(&format!("{cn}.crt"));
    std::fs::write(&path, chain.concat()).unwrap();
    (path, key)
}

/// An admin token of provisioner `mariano` for `subject`, audience `path` on 127.0.0.1.
fn admin_token(subject: &str, path: &str) -> String {
    let (key, kid) = common::provisioner_key("mariano");
    let claims = TokenClaims::new(
        "mariano",
        subject,
        &format!("https://127.0.0.1{path}"),
        SystemTime::now(),
    );
    mint_token(&key, &kid, &claims).unwrap()
}

fn text(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// How a request authenticates.
enum Caller<'a> {
    Anonymous,
    Cert(&'a (PathBuf, PathBuf)),
    Token(String),
}

fn call(
    server: &Running,
    pki: &Pki,
    caller: &Caller,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Reply {
    let body = body.map(Value::to_string);
    let mut args: Vec<String> = vec!["-X".into(), method.into()];
    match caller {
        Caller::Anonymous => {}
        Caller::Cert((crt, key)) => {
            args.extend(["--cert".into(), crt.display().to_string()]);
            args.extend(["--key".into(), key.display().to_string()]);
        }
        Caller::Token(token) => {
            args.extend(["-H".into(), format!("authorization: Bearer {token}")]);
        }
    }
    if let Some(body) = body {
        args.extend(["-H".into(), "content-type: application/json".into()]);
        args.extend(["--data-binary".into(), body]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    curl(&server.url(path), Some(&pki.root), &args).unwrap()
}

fn expect(reply: &Reply, status: u16, message_part: &str) {
    assert_eq!(reply.status, status, "{}", text(reply));
    let json = reply.json();
    assert_eq!(json["status"], status, "{json}");
    let message = json["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

/// Every admin route, with a body where it takes one.
fn routes() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("GET", "/admin/provisioners", None),
        (
            "POST",
            "/admin/provisioners",
            Some(json!({"type": "ACME", "name": "x"})),
        ),
        ("GET", "/admin/provisioners/mariano", None),
        (
            "PUT",
            "/admin/provisioners/mariano",
            Some(provisioner_entry("mariano")),
        ),
        ("DELETE", "/admin/provisioners/mariano", None),
        ("GET", "/admin/admins", None),
        (
            "POST",
            "/admin/admins",
            Some(json!({"subject": "x", "provisioner": "mariano"})),
        ),
        ("DELETE", "/admin/admins/boss.internal", None),
        ("GET", "/admin/acme/eab/acme", None),
        ("POST", "/admin/acme/eab/acme", Some(json!({}))),
        ("DELETE", "/admin/acme/eab/acme/somekey", None),
        ("GET", "/1.0/admin/provisioners", None),
    ]
}

#[test]
fn every_route_refuses_anonymous_non_admin_and_revoked_admin_callers() {
    if mayfly_testkit::tool("curl").is_none() {
        return;
    }
    let pki = admin_pki();
    let server = Running::start(&pki);
    let nobody = certificate(&server, &pki, NOBODY);
    let fired = certificate(&server, &pki, FIRED);
    // The fired super admin's certificate works until it is revoked.
    let before = call(
        &server,
        &pki,
        &Caller::Cert(&fired),
        "GET",
        "/admin/admins",
        None,
    );
    assert_eq!(before.status, 200, "{}", text(&before));
    let openssl = mayfly_testkit::tool("openssl").unwrap();
    let serial = mayfly_testkit::run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(&fired.0),
    );
    let serial = serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    let revoke =
        json!({"serial": serial, "ott": token("mariano", &serial, "revoke"), "passive": true});
    let revoked = post_json(&server.url("/1.0/revoke"), &pki.root, &revoke, &[]).unwrap();
    assert_eq!(revoked.status, 200, "{}", text(&revoked));

    for (method, path, body) in routes() {
        let body = body.as_ref();
        let anonymous = call(&server, &pki, &Caller::Anonymous, method, path, body);
        expect(
            &anonymous,
            401,
            "client certificate (mTLS) or an admin token",
        );
        let stranger = call(&server, &pki, &Caller::Cert(&nobody), method, path, body);
        expect(
            &stranger,
            403,
            "no admin of provisioner \"mariano\" is named",
        );
        let revoked = call(&server, &pki, &Caller::Cert(&fired), method, path, body);
        expect(&revoked, 401, "is revoked");
        let not_admin_token = Caller::Token(admin_token(NOBODY, "/admin"));
        let refused = call(&server, &pki, &not_admin_token, method, path, body);
        expect(
            &refused,
            403,
            "\"nobody.internal\" is not an admin of provisioner \"mariano\"",
        );
        // A sign token is not an admin token.
        let sign_token = Caller::Token(token("mariano", BOSS, "sign"));
        let refused = call(&server, &pki, &sign_token, method, path, body);
        expect(&refused, 401, "invalid token");
        let garbage = call(
            &server,
            &pki,
            &Caller::Token("not-a-jwt".into()),
            method,
            path,
            body,
        );
        expect(&garbage, 401, "invalid token");
    }

    // An admin token is good once, for the /admin and /1.0/admin audiences.
    let once = admin_token(BOSS, "/1.0/admin");
    let first = call(
        &server,
        &pki,
        &Caller::Token(once.clone()),
        "GET",
        "/admin/admins",
        None,
    );
    assert_eq!(first.status, 200, "{}", text(&first));
    let replay = call(
        &server,
        &pki,
        &Caller::Token(once),
        "GET",
        "/admin/admins",
        None,
    );
    expect(&replay, 401, "already been used");
    // A malformed Authorization header is refused, not ignored in favour of anything else.
    let boss = certificate(&server, &pki, BOSS);
    let reply = curl(
        &server.url("/admin/admins"),
        Some(&pki.root),
        &[
            "--cert",
            boss.0.to_str().unwrap(),
            "--key",
            boss.1.to_str().unwrap(),
            "-H",
            "authorization: Basic abc",
        ],
    )
    .unwrap();
    expect(&reply, 401, "Bearer");
}

#[test]
fn a_super_admin_adds_a_provisioner_whose_tokens_then_sign_and_an_admin_cannot_add_admins() {
    if mayfly_testkit::tool("curl").is_none() {
        return;
    }
    let pki = admin_pki();
    let server = Running::start(&pki);
    let boss = certificate(&server, &pki, BOSS);
    let ops = certificate(&server, &pki, OPS);
    let as_boss = Caller::Cert(&boss);
    let as_ops = Caller::Cert(&ops);

    // The registry was seeded from ca.json.
    let listed = call(&server, &pki, &as_boss, "GET", "/admin/provisioners", None);
    assert_eq!(listed.status, 200, "{}", text(&listed));
    let listed = listed.json();
    let names: Vec<&str> = listed["provisioners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["mariano"]);

    // A new JWK provisioner: unknown before, signs right after the admin adds it.
    let password = Password::from_bytes(b"new provisioner password".to_vec());
    let (public, encrypted) = mayfly_jwt::new_provisioner_key(&password).unwrap();
    let private = mayfly_jwt::decrypt_jwk(&encrypted, &password).unwrap();
    let kid = public.kid.clone().unwrap();
    let new_token = |cn: &str| {
        let claims = TokenClaims::new(
            "deploy",
            cn,
            "https://127.0.0.1/1.0/sign",
            SystemTime::now(),
        )
        .with_sans(vec![cn.to_owned()]);
        mint_token(&private.to_private_key().unwrap(), &kid, &claims).unwrap()
    };
    let (_, csr) = key_and_csr(pki.dir.path(), "deploy.internal");
    let sign = |token: String| {
        post_json(
            &server.url("/1.0/sign"),
            &pki.root,
            &json!({"csr": csr, "ott": token}),
            &[],
        )
        .unwrap()
    };
    expect(&sign(new_token("deploy.internal")), 401, "deploy");
    let deploy = json!({"type": "JWK", "name": "deploy", "key": public, "encryptedKey": encrypted,
                        "claims": {"maxTLSCertDuration": "1h", "defaultTLSCertDuration": "30m"}});
    let added = call(
        &server,
        &pki,
        &as_ops,
        "POST",
        "/admin/provisioners",
        Some(&deploy),
    );
    assert_eq!(added.status, 201, "{}", text(&added));
    assert_eq!(added.json()["name"], "deploy");
    let signed = sign(new_token("deploy.internal"));
    assert_eq!(signed.status, 201, "{}", text(&signed));
    // Adding it twice is refused; its encrypted key is served to clients like ca.json's.
    let twice = call(
        &server,
        &pki,
        &as_boss,
        "POST",
        "/admin/provisioners",
        Some(&deploy),
    );
    expect(&twice, 400, "already exists");
    let key = curl(
        &server.url(&format!("/provisioners/{kid}/encrypted-key")),
        Some(&pki.root),
        &[],
    )
    .unwrap();
    assert_eq!(key.json()["key"], encrypted);

    // Update: the claim applies at once (2h is now over the maximum).
    let mut updated = deploy.clone();
    updated["claims"] = json!({"maxTLSCertDuration": "30m", "defaultTLSCertDuration": "10m"});
    let put = call(
        &server,
        &pki,
        &as_ops,
        "PUT",
        "/admin/provisioners/deploy",
        Some(&updated),
    );
    assert_eq!(put.status, 200, "{}", text(&put));
    let got = call(
        &server,
        &pki,
        &as_ops,
        "GET",
        "/admin/provisioners/deploy",
        None,
    );
    assert_eq!(got.json()["claims"]["maxTLSCertDuration"], "30m");
    let too_long = post_json(
        &server.url("/1.0/sign"),
        &pki.root,
        &json!({"csr": csr, "ott": new_token("deploy.internal"), "notAfter": "2h"}),
        &[],
    )
    .unwrap();
    assert_eq!(too_long.status, 403, "{}", text(&too_long));
    let renamed = call(
        &server,
        &pki,
        &as_ops,
        "PUT",
        "/admin/provisioners/mariano",
        Some(&deploy),
    );
    expect(&renamed, 400, "cannot be renamed");

    // Bad provisioner documents: 400 naming what is wrong, as ca.json loading would.
    for (bad, field) in [
        (
            json!({"type": "JWK", "name": "bad", "key": public, "claimz": {}}),
            "claimz",
        ),
        (
            json!({"type": "JWK", "name": "bad", "key": public, "claims": {"maxTLSCertDuration": "forever"}}),
            "claims.maxTLSCertDuration",
        ),
        (json!({"type": "OIDC", "name": "bad"}), "type"),
        (json!({"type": "ACME"}), "name"),
        (
            json!({"type": "JWK", "name": "bad", "key": {"kty": "EC"}}),
            "key",
        ),
        (
            json!({"type": "ACME", "name": "bad", "challenges": "http-01"}),
            "challenges",
        ),
    ] {
        let reply = call(
            &server,
            &pki,
            &as_boss,
            "POST",
            "/admin/provisioners",
            Some(&bad),
        );
        expect(&reply, 400, field);
    }
    let not_json = curl(
        &server.url("/admin/provisioners"),
        Some(&pki.root),
        &[
            "-X",
            "POST",
            "--cert",
            boss.0.to_str().unwrap(),
            "--key",
            boss.1.to_str().unwrap(),
            "--data-binary",
            "{not json",
        ],
    )
    .unwrap();
    expect(&not_json, 400, "invalid JSON");

    // An ADMIN manages provisioners and EAB keys but not admins; a SUPER_ADMIN does.
    let new_admin = json!({"subject": "deployer", "provisioner": "deploy", "type": "ADMIN"});
    expect(
        &call(
            &server,
            &pki,
            &as_ops,
            "POST",
            "/admin/admins",
            Some(&new_admin),
        ),
        403,
        "SUPER_ADMIN",
    );
    expect(
        &call(&server, &pki, &as_ops, "GET", "/admin/admins", None),
        403,
        "SUPER_ADMIN",
    );
    expect(
        &call(
            &server,
            &pki,
            &as_ops,
            "DELETE",
            "/admin/admins/fired.internal",
            None,
        ),
        403,
        "SUPER_ADMIN",
    );
    let created = call(
        &server,
        &pki,
        &as_boss,
        "POST",
        "/admin/admins",
        Some(&new_admin),
    );
    assert_eq!(created.status, 201, "{}", text(&created));
    assert_eq!(created.json()["type"], "ADMIN");
    let unknown = json!({"subject": "x", "provisioner": "nope"});
    expect(
        &call(
            &server,
            &pki,
            &as_boss,
            "POST",
            "/admin/admins",
            Some(&unknown),
        ),
        400,
        "provisioner",
    );
    // The new admin's token (signed by `deploy`) now works.
    let deployer_token = {
        let claims = TokenClaims::new(
            "deploy",
            "deployer",
            "https://127.0.0.1/admin",
            SystemTime::now(),
        );
        mint_token(&private.to_private_key().unwrap(), &kid, &claims).unwrap()
    };
    let listed = call(
        &server,
        &pki,
        &Caller::Token(deployer_token),
        "GET",
        "/admin/provisioners",
        None,
    );
    assert_eq!(listed.status, 200, "{}", text(&listed));

    // Never the last super admin: FIRED goes, then BOSS (now the last) is refused.
    let gone = call(
        &server,
        &pki,
        &as_boss,
        "DELETE",
        "/admin/admins/fired.internal",
        None,
    );
    assert_eq!(gone.status, 200, "{}", text(&gone));
    expect(
        &call(
            &server,
            &pki,
            &as_boss,
            "DELETE",
            "/admin/admins/boss.internal",
            None,
        ),
        400,
        "last super admin",
    );
    // Nor the provisioner every super admin logs in through.
    expect(
        &call(
            &server,
            &pki,
            &as_boss,
            "DELETE",
            "/admin/provisioners/mariano",
            None,
        ),
        400,
        "no super admin",
    );

    // Removing `deploy` stops its tokens at once.
    let removed = call(
        &server,
        &pki,
        &as_ops,
        "DELETE",
        "/admin/provisioners/deploy",
        None,
    );
    assert_eq!(removed.status, 200, "{}", text(&removed));
    expect(&sign(new_token("deploy.internal")), 401, "deploy");
    expect(
        &call(
            &server,
            &pki,
            &as_ops,
            "DELETE",
            "/admin/provisioners/deploy",
            None,
        ),
        404,
        "no provisioner",
    );

    // EAB keys: only for ACME provisioners; created, listed, removed.
    let acme = json!({"type": "ACME", "name": "acme", "requireEAB": true});
    assert_eq!(
        call(
            &server,
            &pki,
            &as_ops,
            "POST",
            "/admin/provisioners",
            Some(&acme)
        )
        .status,
        201
    );
    expect(
        &call(
            &server,
            &pki,
            &as_ops,
            "POST",
            "/admin/acme/eab/mariano",
            Some(&json!({})),
        ),
        404,
        "no ACME provisioner",
    );
    let key = call(
        &server,
        &pki,
        &as_ops,
        "POST",
        "/admin/acme/eab/acme",
        Some(&json!({})),
    );
    assert_eq!(key.status, 201, "{}", text(&key));
    let key_id = key.json()["id"].as_str().unwrap().to_owned();
    assert!(key.json()["hmacKey"].as_str().unwrap().len() >= 43);
    let list = call(&server, &pki, &as_ops, "GET", "/admin/acme/eab/acme", None);
    assert_eq!(list.json()["eaks"][0]["id"], key_id.as_str());
    assert!(
        list.json()["eaks"][0].get("hmacKey").is_none(),
        "listing never shows HMAC keys"
    );
    let path = format!("/admin/acme/eab/acme/{key_id}");
    assert_eq!(
        call(&server, &pki, &as_ops, "DELETE", &path, None).status,
        200
    );
    expect(
        &call(&server, &pki, &as_ops, "DELETE", &path, None),
        404,
        "no EAB key",
    );
    assert_eq!(
        call(&server, &pki, &as_ops, "GET", "/admin/acme/eab/acme", None).json()["eaks"],
        json!([])
    );

    // Unknown admin routes and methods.
    expect(
        &call(&server, &pki, &as_ops, "GET", "/admin/nothing", None),
        404,
        "not found",
    );
    expect(
        &call(&server, &pki, &as_ops, "PATCH", "/admin/provisioners", None),
        405,
        "not allowed",
    );
}

#[test]
fn without_enable_admin_the_admin_api_is_not_there() {
    if mayfly_testkit::tool("curl").is_none() {
        return;
    }
    let pki = Pki::new(json!({}));
    let server = Running::start(&pki);
    let reply = curl(&server.url("/admin/provisioners"), Some(&pki.root), &[]).unwrap();
    expect(
        &reply,
        404,
        "remote management is disabled (authority.enableAdmin)",
    );
    let reply = curl(
        &server.url("/1.0/admin/admins"),
        Some(&pki.root),
        &["-X", "POST"],
    )
    .unwrap();
    expect(&reply, 404, "remote management is disabled");
}
