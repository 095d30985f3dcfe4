//! `mayfly-ca provisioner list|add|update|remove` editing ca.json.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

mod pki_common;

use std::path::Path;

use mayfly_authority::config::CaConfig;
use mayfly_keys::Password;
use mayfly_testkit::{run, step_fixtures, temp_dir, write_file};
use pki_common::{init_pki, mayfly_ca, mode, read, read_json};
use serde_json::{Value, json};

fn provisioner(ca_json: &Path, args: &[&str]) -> (bool, String) {
    run(mayfly_ca()
        .arg("provisioner")
        .args(args)
        .arg("--ca-config")
        .arg(ca_json))
}

fn provisioner_ok(ca_json: &Path, args: &[&str]) -> String {
    let (ok, out) = provisioner(ca_json, args);
    assert!(ok, "provisioner {args:?} failed: {out}");
    out
}

fn find<'a>(ca: &'a Value, name: &str) -> Option<&'a Value> {
    ca["authority"]["provisioners"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
}

#[test]
fn add_update_remove_round_trip_with_backups() {
    let dir = temp_dir();
    let base = init_pki(dir.path(), &[]);
    let ca_json = base.join("config/ca.json");
    let original = read(&ca_json);

    // add --create (the default): a fresh key, its password generated and written 0600.
    let out = provisioner_ok(&ca_json, &["add", "ci bot", "--x509-max-dur", "1h"]);
    let password_file = base.join("secrets/ci_bot_password.txt");
    assert!(out.contains(password_file.to_str().unwrap()), "{out}");
    assert!(out.contains("SIGHUP"), "{out}");
    assert_eq!(mode(&password_file), 0o600);
    assert_eq!(read(&base.join("config/ca.json.bak")), original);
    let ca = read_json(&ca_json);
    let added = find(&ca, "ci bot").unwrap();
    assert_eq!(added["type"], "JWK");
    assert_eq!(added["claims"], json!({"maxTLSCertDuration": "1h"}));
    let jwk = mayfly_jwt::decrypt_jwk(
        added["encryptedKey"].as_str().unwrap(),
        &Password::from_file(&password_file).unwrap(),
    )
    .unwrap();
    assert_eq!(jwk.to_public().kid.as_deref(), added["key"]["kid"].as_str());
    // The first provisioner and the top-level keys keep their order and content.
    assert_eq!(
        ca["authority"]["provisioners"][0],
        read_json(&base.join("config/ca.json.bak"))["authority"]["provisioners"][0]
    );
    let keys: Vec<&String> = ca.as_object().unwrap().keys().collect();
    let original_keys: Vec<String> =
        serde_json::from_str::<serde_json::Map<String, Value>>(&original)
            .unwrap()
            .keys()
            .cloned()
            .collect();
    assert_eq!(keys, original_keys.iter().collect::<Vec<_>>());
    CaConfig::load(&ca_json).unwrap();

    // update: claims and a template file; an empty value removes a claim.
    let template = write_file(
        dir.path(),
        "leaf.tpl",
        mayfly_template::DEFAULT_LEAF_TEMPLATE,
    );
    let before_update = read(&ca_json);
    provisioner_ok(
        &ca_json,
        &[
            "update",
            "ci bot",
            "--x509-min-dur",
            "1m",
            "--x509-max-dur",
            "",
            "--x509-default-dur",
            "30m",
            "--disable-renewal",
            "--x509-template",
            template.to_str().unwrap(),
        ],
    );
    assert_eq!(read(&base.join("config/ca.json.bak")), before_update);
    let ca = read_json(&ca_json);
    let updated = find(&ca, "ci bot").unwrap();
    assert_eq!(
        updated["claims"],
        json!({"minTLSCertDuration": "1m", "defaultTLSCertDuration": "30m", "disableRenewal": true})
    );
    assert_eq!(
        updated["options"]["x509"]["templateFile"],
        template.to_str().unwrap()
    );
    provisioner_ok(
        &ca_json,
        &[
            "update",
            "ci bot",
            "--disable-renewal=false",
            "--x509-template",
            "",
        ],
    );
    let ca = read_json(&ca_json);
    let updated = find(&ca, "ci bot").unwrap();
    assert_eq!(updated["claims"]["disableRenewal"], false);
    assert!(updated.get("options").is_none(), "{updated}");

    // list shows both.
    let listed: Value = serde_json::from_str(&provisioner_ok(&ca_json, &["list"])).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["ops@test", "ci bot"]);

    // remove.
    provisioner_ok(&ca_json, &["remove", "ci bot"]);
    assert!(find(&read_json(&ca_json), "ci bot").is_none());
    CaConfig::load(&ca_json).unwrap();
    let (ok, out) = provisioner(&ca_json, &["remove", "ci bot"]);
    assert!(!ok);
    assert!(
        out.contains("no provisioner named \"ci bot\"") && out.contains("ops@test"),
        "{out}"
    );
}

#[test]
fn broken_edits_are_refused_and_leave_ca_json_unchanged() {
    let dir = temp_dir();
    let base = init_pki(dir.path(), &[]);
    let ca_json = base.join("config/ca.json");
    let before = read(&ca_json);

    let (ok, out) = provisioner(
        &ca_json,
        &["update", "ops@test", "--x509-max-dur", "forever"],
    );
    assert!(!ok);
    assert!(
        out.contains("refusing the change") && out.contains("authority.provisioners[0]"),
        "{out}"
    );

    // A refused add leaves no generated password behind.
    let (ok, out) = provisioner(&ca_json, &["add", "late", "--x509-default-dur", "10 days"]);
    assert!(!ok);
    assert!(out.contains("authority.provisioners[1]"), "{out}");
    assert!(!base.join("secrets/late_password.txt").exists());

    let (ok, out) = provisioner(&ca_json, &["add", "ops@test", "--type", "ACME"]);
    assert!(!ok);
    assert!(out.contains("already exists"), "{out}");

    let (ok, out) = provisioner(&ca_json, &["update", "ops@test"]);
    assert!(!ok);
    assert!(out.contains("nothing to update"), "{out}");

    let broken = write_file(dir.path(), "broken.tpl", "{{ if }");
    let (ok, out) = provisioner(
        &ca_json,
        &[
            "update",
            "ops@test",
            "--x509-template",
            broken.to_str().unwrap(),
        ],
    );
    assert!(!ok);
    assert!(out.contains("not a valid template"), "{out}");

    // Reusing the first provisioner's public key is refused.
    let public = read_json(&ca_json)["authority"]["provisioners"][0]["key"].to_string();
    let public = write_file(dir.path(), "pub.json", public);
    let (ok, out) = provisioner(
        &ca_json,
        &["add", "twin", "--public-key", public.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(out.contains("already uses the key"), "{out}");

    assert_eq!(read(&ca_json), before);
    assert!(!base.join("config/ca.json.bak").exists());
}

#[test]
fn add_with_a_public_key_or_acme_and_refuse_private_keys() {
    let dir = temp_dir();
    let base = init_pki(dir.path(), &[]);
    let ca_json = base.join("config/ca.json");

    let key = mayfly_keys::PrivateKey::generate(mayfly_keys::KeyType::EcP384).unwrap();
    let private = mayfly_jwt::Jwk::from_private_key(&key).unwrap();
    let private_file = write_file(
        dir.path(),
        "priv.json",
        private.to_json().unwrap().as_bytes(),
    );
    let (ok, out) = provisioner(
        &ca_json,
        &["add", "ext", "--public-key", private_file.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(out.contains("private key"), "{out}");

    let mut public = private.to_public();
    public.kid = None;
    let public_file = write_file(dir.path(), "pub.json", public.to_json().unwrap().as_bytes());
    provisioner_ok(
        &ca_json,
        &[
            "add",
            "ext",
            "--public-key",
            public_file.to_str().unwrap(),
            "--allow-renewal-after-expiry",
        ],
    );
    provisioner_ok(
        &ca_json,
        &["add", "acme", "--type", "ACME", "--x509-default-dur", "2h"],
    );
    let ca = read_json(&ca_json);
    let ext = find(&ca, "ext").unwrap();
    assert_eq!(
        ext["key"]["kid"].as_str(),
        private.thumbprint().ok().as_deref()
    );
    assert!(ext.get("encryptedKey").is_none());
    assert_eq!(ext["claims"], json!({"allowRenewalAfterExpiry": true}));
    assert_eq!(
        find(&ca, "acme").unwrap(),
        &json!({"type": "ACME", "name": "acme", "claims": {"defaultTLSCertDuration": "2h"}})
    );
    let config = CaConfig::load(&ca_json).unwrap();
    assert_eq!(config.authority.provisioners.len(), 3);

    // --password-file: the key is encrypted with the given password; nothing is generated.
    let password = write_file(dir.path(), "p", "given password\n");
    provisioner_ok(
        &ca_json,
        &[
            "add",
            "given",
            "--create",
            "--password-file",
            password.to_str().unwrap(),
        ],
    );
    let ca = read_json(&ca_json);
    let encrypted = find(&ca, "given").unwrap()["encryptedKey"]
        .as_str()
        .unwrap();
    mayfly_jwt::decrypt_jwk(encrypted, &Password::from_bytes(b"given password".to_vec())).unwrap();
    assert!(!base.join("secrets/given_password.txt").exists());
}

#[test]
fn step_configs_list_and_admin_configs_are_refused() {
    let fixture = step_fixtures().join("certificates/ca/testdata/ca.json");
    let listed: Value = serde_json::from_str(&provisioner_ok(&fixture, &["list"])).unwrap();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["max", "mike", "step-cli", "mariano", "maxey"]);
    let example = step_fixtures().join("certificates/examples/pki/config/ca.json");
    assert!(provisioner_ok(&example, &["list"]).contains("90days"));

    let dir = temp_dir();
    let mut ca: Value = serde_json::from_str(&read(&fixture)).unwrap();
    ca["authority"]["enableAdmin"] = json!(true);
    let admin = write_file(dir.path(), "ca.json", ca.to_string());
    let (ok, out) = provisioner(&admin, &["remove", "max"]);
    assert!(!ok);
    assert!(out.contains("enableAdmin"), "{out}");
}
