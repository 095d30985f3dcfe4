//! Secrets: key files are 0600, `serve` refuses loose permissions, no environment variable is
//! consulted for a password (decoys set), and no password or private key reaches the log
//! even at trace level.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use mayfly_keys::{KeyType, PrivateKey};
use mayfly_reliability::{CA_PASSWORD, Ca, PROVISIONER_PASSWORD};
use mayfly_template::{San, build_request};
use mayfly_testkit::temp_dir;

/// Environment variables a careless CA might read a password from.
const DECOYS: &[&str] = &[
    "MAYFLY_PASSWORD",
    "MAYFLY_CA_PASSWORD",
    "MAYFLY_PASSWORD_FILE",
    "STEP_CA_PASSWORD",
    "STEPPASS",
    "PASSWORD",
];
const DECOY_VALUE: &str = "decoy-password-from-env-55e1";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[test]
fn secrets_stay_secret() {
    let dir = temp_dir();
    let mut ca = Ca::init_stopped(dir.path());
    let secrets = dir.path().join("ca/secrets");
    let mut keys = 0;
    for entry in std::fs::read_dir(&secrets).expect("secrets/").flatten() {
        let path = entry.path();
        assert_eq!(mode(&path), 0o600, "{} is not 0600", path.display());
        keys += 1;
    }
    assert!(keys >= 2, "init wrote {keys} key files");

    // Loose permissions on the key or the password file: refused, naming the file.
    let key = secrets.join("intermediate_ca_key");
    for file in [key.clone(), dir.path().join("pw")] {
        chmod(&file, 0o644);
        let log = ca.start_refused();
        assert!(
            log.contains(&file.display().to_string()) && log.contains("chmod 600"),
            "{log}"
        );
        chmod(&file, 0o600);
    }

    // The right password only in the environment, a wrong one in the file: refused.
    for name in DECOYS {
        ca.set_env(name, CA_PASSWORD);
    }
    ca.set_env("MAYFLY_LOG", "trace");
    std::fs::write(dir.path().join("pw"), "not the password\n").expect("pw");
    let log = ca.start_refused();
    assert!(log.to_lowercase().contains("decrypt"), "{log}");

    // A decoy in the environment, the right password in the file: it serves, from the file.
    std::fs::create_dir_all(dir.path().join("second")).expect("mkdir");
    let mut ca = Ca::init_stopped(&dir.path().join("second"));
    for name in DECOYS {
        ca.set_env(name, DECOY_VALUE);
    }
    ca.set_env("MAYFLY_LOG", "trace");
    ca.start();
    let https = ca.https();
    let pkey = ca.provisioner();
    let leaf = PrivateKey::generate(KeyType::EcP256).expect("key");
    let der = build_request("s.example", &[San::guess("s.example")], &leaf).expect("csr");
    let csr = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
        .expect("pem");
    let token = ca.sign_token(&pkey, &["s.example".to_owned()]);
    let body = serde_json::json!({"csr": csr, "ott": token}).to_string();
    let reply = https
        .call("POST", "/1.0/sign", body.as_bytes())
        .expect("sign");
    assert_eq!(reply.status, 201, "{}", reply.text());
    let reply = https
        .call("POST", "/1.0/sign", body.as_bytes())
        .expect("replay");
    assert_eq!(reply.status, 401, "{}", reply.text());
    ca.kill();

    // Neither log holds a password, the decoy, or any private key.
    let logs = [
        std::fs::read_to_string(dir.path().join("ca.log")).unwrap_or_default(),
        ca.log(),
    ]
    .concat();
    assert!(logs.len() > 1000, "the trace log is suspiciously short");
    for secret in [
        CA_PASSWORD,
        PROVISIONER_PASSWORD,
        DECOY_VALUE,
        "PRIVATE KEY",
        "\"d\":",
    ] {
        assert!(!logs.contains(secret), "the CA log contains {secret:?}");
    }
    println!(
        "secrets: {keys} key files 0600, 2 loose-permission starts refused, {} decoy env vars ignored, {} log bytes clean",
        DECOYS.len(),
        logs.len()
    );
}
