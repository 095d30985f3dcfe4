//! `mayfly ca bootstrap` and the checks that need no CA logic, against `openssl s_server
//! -WWW` serving the CA's GET routes as files: the root is pinned by fingerprint, a wrong
//! root is refused naming the fingerprint, defaults.json drives later commands, and a stale
//! token is explained before anything is sent.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, SystemTime};

use mayfly_testkit::{stderr_of_failure, stdout_of_success, temp_dir, tool, write_file};

fn mayfly(args: &[&str], home: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .args(args)
        .env("MAYFLY_PATH", home.join("mayfly"))
        .current_dir(home)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(args: &[&str], home: &Path) -> String {
    stdout_of_success(("mayfly", args), mayfly(args, home))
}

fn fails(args: &[&str], home: &Path) -> String {
    stderr_of_failure(("mayfly", args), mayfly(args, home))
}

/// A root and a TLS leaf for 127.0.0.1 made with `mayfly certificate create`, named `name`.
fn pki(home: &Path, name: &str) {
    let open = ["--no-password", "--insecure"];
    let (crt, key) = (format!("{name}_root.crt"), format!("{name}_root.key"));
    let root = [
        "certificate",
        "create",
        name,
        &crt,
        &key,
        "--profile",
        "root-ca",
    ];
    ok(&[&root[..], &open].concat(), home);
    let (leaf_crt, leaf_key) = (format!("{name}_tls.crt"), format!("{name}_tls.key"));
    let leaf = [
        "certificate",
        "create",
        "localhost",
        &leaf_crt,
        &leaf_key,
        "--ca",
        &crt,
        "--ca-key",
        &key,
        "--san",
        "127.0.0.1",
        "--san",
        "localhost",
    ];
    ok(&[&leaf[..], &open].concat(), home);
}

/// `openssl s_server -WWW` on a free port, serving files from `docroot`.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(openssl: &Path, home: &Path, docroot: &str, tls: &str) -> (Server, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = Server(
        Command::new(openssl)
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(home.join(format!("{tls}_tls.crt")))
            .arg("-key")
            .arg(home.join(format!("{tls}_tls.key")))
            .current_dir(home.join(docroot))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (server, format!("https://127.0.0.1:{port}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("openssl s_server did not start");
}

fn fingerprint(home: &Path, root: &str) -> String {
    let pem = std::fs::read_to_string(home.join(root)).unwrap();
    mayfly_template::fingerprint_sha256(&mayfly_template::parse_certificate_pem(&pem).unwrap())
        .unwrap()
}

/// The CA's GET routes as files: `/root/{fp}` answers with `root`, `/health` is ok.
fn docroot(home: &Path, dir: &str, root: &str, fp: &str) {
    std::fs::create_dir_all(home.join(dir).join("root")).unwrap();
    let pem = std::fs::read_to_string(home.join(root)).unwrap();
    let body = serde_json::json!({ "ca": pem }).to_string();
    write_file(&home.join(dir).join("root"), fp, body);
    write_file(&home.join(dir), "health", r#"{"status":"ok"}"#);
}

#[test]
fn bootstrap_pins_the_root_and_writes_defaults() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let home = temp_dir();
    let home = home.path();
    pki(home, "good");
    pki(home, "evil");
    let fp = fingerprint(home, "good_root.crt");

    docroot(home, "www_good", "good_root.crt", &fp);
    let (_good, url) = serve(&openssl, home, "www_good", "good");
    let err = fails(&["ca", "health"], home);
    assert!(err.contains("run `mayfly ca bootstrap"), "{err}");

    ok(
        &["ca", "bootstrap", "--ca-url", &url, "--fingerprint", &fp],
        home,
    );
    let saved = home.join("mayfly/certs/root_ca.crt");
    assert_eq!(
        std::fs::read_to_string(&saved).unwrap(),
        std::fs::read_to_string(home.join("good_root.crt")).unwrap()
    );
    let defaults: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("mayfly/config/defaults.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(defaults["ca-url"], url.as_str());
    assert_eq!(defaults["fingerprint"], fp.as_str());
    assert_eq!(defaults["root"], saved.to_str().unwrap());
    assert_eq!(ok(&["ca", "health"], home).trim(), "ok");
    // Bootstrapping the same CA again is fine.
    ok(
        &["ca", "bootstrap", "--ca-url", &url, "--fingerprint", &fp],
        home,
    );

    // A server that answers with another root for this fingerprint is refused.
    docroot(home, "www_evil", "evil_root.crt", &fp);
    let (_evil, evil_url) = serve(&openssl, home, "www_evil", "evil");
    let err = fails(
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            &evil_url,
            "--fingerprint",
            &fp,
        ],
        home,
    );
    assert!(
        err.contains(&format!("the CA's root does not match fingerprint {fp}")),
        "{err}"
    );
    // The pinned root does not trust that server, even for a plain health check.
    let err = fails(&["ca", "health", "--ca-url", &evil_url], home);
    assert!(err.contains("TLS handshake"), "{err}");

    // Another CA does not silently replace the first one.
    let evil_fp = fingerprint(home, "evil_root.crt");
    docroot(home, "www_evil", "evil_root.crt", &evil_fp);
    let args = [
        "ca",
        "bootstrap",
        "--ca-url",
        &evil_url,
        "--fingerprint",
        &evil_fp,
    ];
    let err = fails(&args, home);
    assert!(err.contains("--force"), "{err}");
    ok(&[&args[..], &["--force"]].concat(), home);
    assert_eq!(ok(&["ca", "health"], home).trim(), "ok");

    // A malformed fingerprint is named.
    let err = fails(
        &["ca", "bootstrap", "--ca-url", &url, "--fingerprint", "abc"],
        home,
    );
    assert!(err.contains("bad root fingerprint \"abc\""), "{err}");
}

#[test]
fn stale_tokens_are_explained_before_they_are_sent() {
    let home = temp_dir();
    let home = home.path();
    pki(home, "good");
    let key = mayfly_keys::PrivateKey::generate(mayfly_keys::KeyType::EcP256).unwrap();
    let issued = SystemTime::now() - Duration::from_secs(8 * 60);
    let claims = mayfly_jwt::TokenClaims::new("ops", "svc", "https://127.0.0.1:1/1.0/sign", issued);
    let token = mayfly_jwt::mint_token(&key, "kid", &claims).unwrap();
    let conn = ["--ca-url", "https://127.0.0.1:1", "--root", "good_root.crt"];
    let args = [
        "ca",
        "certificate",
        "svc",
        "svc.crt",
        "svc.key",
        "--token",
        &token,
    ];
    let err = fails(&[&args[..], &conn].concat(), home);
    assert!(
        err.contains("token expired 3 min ago: clocks differ"),
        "{err}"
    );
    assert!(!home.join("svc.key").exists(), "nothing is written");
}
