//! `mayfly-ca init --root-kms/--intermediate-kms` with keys generated inside a SoftHSM2 token
//! that the test creates; openssl verifies the chain. SoftHSM2 reads `SOFTHSM2_CONF`, which
//! only the child `mayfly-ca` process gets.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

mod pki_common;

use std::process::Command;

use mayfly_testkit::{run_ok, temp_dir, tool, write_file};
use pki_common::read_json;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

#[test]
fn init_generates_the_ca_keys_inside_an_hsm() {
    let (Some(util), Some(openssl)) = (tool("softhsm2-util"), tool("openssl")) else {
        return;
    };
    let dir = temp_dir();
    let d = dir.path();
    std::fs::create_dir(d.join("tokens")).unwrap();
    let conf = write_file(
        d,
        "softhsm2.conf",
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            d.join("tokens").display()
        ),
    );
    let pin = write_file(d, "pin", "1234\n");
    run_ok(Command::new(&util).env("SOFTHSM2_CONF", &conf).args([
        "--init-token",
        "--free",
        "--label",
        "ca-token",
        "--so-pin",
        "12345678",
        "--pin",
        "1234",
    ]));
    let uri = |object: &str| {
        format!(
            "pkcs11:token=ca-token;object={object}?module-path={MODULE}&pin-source=file:{}",
            pin.display()
        )
    };
    let (root_uri, intermediate_uri) = (uri("root"), uri("intermediate"));
    let base = d.join("pki");
    run_ok(
        pki_common::mayfly_ca()
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "init",
                "--name",
                "HSM",
                "--dns",
                "ca.test",
                "--provisioner",
                "p",
            ])
            .arg("--path")
            .arg(&base)
            .args([
                "--root-kms",
                &root_uri,
                "--intermediate-kms",
                &intermediate_uri,
            ]),
    );
    assert!(!base.join("secrets/root_ca_key").exists());
    assert!(!base.join("secrets/intermediate_ca_key").exists());
    let out = run_ok(
        Command::new(&openssl)
            .arg("verify")
            .arg("-CAfile")
            .arg(base.join("certs/root_ca.crt"))
            .arg(base.join("certs/intermediate_ca.crt")),
    );
    assert!(out.contains(": OK"), "{out}");
    let ca_json = base.join("config/ca.json");
    assert_eq!(read_json(&ca_json)["key"], intermediate_uri.as_str());
    mayfly_authority::config::CaConfig::load(&ca_json).unwrap();

    // A second PKI reuses the token's existing keys (opened, not generated again): same root key.
    let again = d.join("again");
    run_ok(
        pki_common::mayfly_ca()
            .env("SOFTHSM2_CONF", &conf)
            .args([
                "init",
                "--name",
                "HSM2",
                "--dns",
                "ca.test",
                "--provisioner",
                "p",
            ])
            .arg("--path")
            .arg(&again)
            .args([
                "--root-kms",
                &root_uri,
                "--intermediate-kms",
                &intermediate_uri,
            ]),
    );
    let public_key = |cert: std::path::PathBuf| {
        run_ok(
            Command::new(&openssl)
                .args(["x509", "-noout", "-pubkey", "-in"])
                .arg(cert),
        )
    };
    assert_eq!(
        public_key(base.join("certs/root_ca.crt")),
        public_key(again.join("certs/root_ca.crt"))
    );
}
