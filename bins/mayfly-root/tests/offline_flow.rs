//! The whole two-tier flow of docs/offline-root.md, with the same commands, checked with
//! openssl, curl, pkilint and pkcs11-tool. Offline: `mayfly-root init` a root (key encrypted
//! on disk, or inside SoftHSM2). Online: `mayfly-ca init --csr`. Offline: `sign-csr` that
//! CSR and publish the root's CRL. Online: `mayfly-ca init --intermediate`, `serve`, and a
//! leaf from `mayfly ca certificate`. Offline: `revoke` the intermediate and publish a new
//! CRL: `openssl verify -crl_check_all` then rejects the leaf's chain with error 23. Every
//! `mayfly-root` command runs under strace, which must see no network system call.

use std::path::{Path, PathBuf};
use std::process::Command;

use mayfly_testkit::{GUIDE_INTERMEDIATE_TEMPLATE, run, run_ok, tool, venv_tool, write_file};

mod common;
mod online_ca;
use common::MODULE;
use online_ca::OnlineCa;

const CRL_URL: &str = "http://crl.example.com/crl/ca.crl";

/// The subject `mayfly-ca init --name Mayfly --csr` requests.
const INTERMEDIATE: &str = "CN=Mayfly Intermediate CA";

/// Where the root key lives.
enum RootKey {
    /// An encrypted PEM file, with its password file.
    File,
    /// A SoftHSM2 token in the test dir: `SOFTHSM2_CONF` and the key's URI.
    Hsm { conf: PathBuf, uri: String },
}

struct Env {
    dir: PathBuf,
    openssl: PathBuf,
    curl: PathBuf,
    key: RootKey,
}

impl Env {
    fn root(&self) -> Command {
        let mut cmd = common::mayfly_root(&self.dir);
        if let RootKey::Hsm { conf, .. } = &self.key {
            cmd.env("SOFTHSM2_CONF", conf);
        }
        cmd
    }

    /// `mayfly-root ARGS`, fed `stdin`, under strace: it must make no network call.
    fn offline(&self, args: &[&str], stdin: &str) -> (bool, String) {
        common::offline(self.root().args(args), stdin)
    }

    fn openssl(&self, args: &[&str]) -> (bool, String) {
        run(Command::new(&self.openssl)
            .current_dir(&self.dir)
            .args(args))
    }

    fn root_key(&self) -> String {
        match &self.key {
            RootKey::File => "root_ca_key".into(),
            RootKey::Hsm { uri, .. } => uri.clone(),
        }
    }

    fn key_args(&self) -> Vec<String> {
        match &self.key {
            RootKey::File => vec!["--password-file".into(), "pass.txt".into()],
            RootKey::Hsm { .. } => vec![],
        }
    }
}

fn setup(dir: &Path, hsm: bool) -> Option<Env> {
    let openssl = tool("openssl")?;
    let curl = tool("curl")?;
    let key = if hsm {
        let (conf, uri) = common::softhsm(dir, "root-key")?;
        RootKey::Hsm { conf, uri }
    } else {
        RootKey::File
    };
    write_file(dir, "pass.txt", "root ceremony password\n");
    Some(Env {
        dir: dir.to_owned(),
        openssl,
        curl,
        key,
    })
}

fn init_root(env: &Env) {
    let mut args = vec![
        "init",
        "--name",
        "Offline Root",
        "--kty",
        "P-256",
        "--not-after",
        "87600h",
        "--out",
        "root_ca.crt",
    ];
    let key = env.root_key();
    match &env.key {
        RootKey::File => args.extend(["--key-out", "root_ca_key", "--password-file", "pass.txt"]),
        RootKey::Hsm { .. } => args.extend(["--kms", key.as_str()]),
    }
    let (ok, out) = env.offline(&args, "");
    assert!(ok, "{out}");
    let text = env
        .openssl(&["x509", "-in", "root_ca.crt", "-noout", "-text"])
        .1;
    assert!(
        text.contains("CA:TRUE, pathlen:1") && text.contains("Certificate Sign, CRL Sign"),
        "{text}"
    );
    match &env.key {
        RootKey::File => {
            let pem = std::fs::read_to_string(env.dir.join("root_ca_key")).unwrap_or_default();
            assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(env.dir.join("root_ca_key"))
                    .unwrap_or_else(|e| panic!("{e}"))
                    .permissions(),
            );
            assert_eq!(mode & 0o777, 0o600);
            // openssl decrypts it with the same password and finds the root's key.
            let (ok, out) = env.openssl(&[
                "x509",
                "-in",
                "root_ca.crt",
                "-noout",
                "-pubkey",
                "-out",
                "a.pub",
            ]);
            assert!(ok, "{out}");
            let (ok, out) = env.openssl(&[
                "pkey",
                "-in",
                "root_ca_key",
                "-passin",
                "file:pass.txt",
                "-pubout",
                "-out",
                "b.pub",
            ]);
            assert!(ok, "{out}");
            assert_eq!(
                std::fs::read(env.dir.join("a.pub")).unwrap_or_default(),
                std::fs::read(env.dir.join("b.pub")).unwrap_or_default()
            );
        }
        RootKey::Hsm { conf, .. } => {
            let Some(p11) = tool("pkcs11-tool") else {
                return;
            };
            let out = run_ok(Command::new(p11).env("SOFTHSM2_CONF", conf).args([
                "--module",
                MODULE,
                "--token-label",
                "root-token",
                "--login",
                "--pin",
                "1234",
                "--list-objects",
            ]));
            assert!(
                out.contains("root-key") && out.contains("never extractable"),
                "{out}"
            );
        }
    }
}

fn intermediate_csr(env: &Env) {
    run_ok(Command::new(&env.openssl).current_dir(&env.dir).args([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "int.key",
        "-subj",
        "/CN=Mayfly Intermediate CA",
        "-out",
        "intermediate_ca.csr",
    ]));
}

fn sign_intermediate(env: &Env, guide_template: bool) {
    let key = env.root_key();
    let key_args = env.key_args();
    let mut args = vec![
        "sign-csr",
        "intermediate_ca.csr",
        "--ca",
        "root_ca.crt",
        "--ca-key",
        &key,
        "--not-after",
        "87600h",
        "--index",
        "index.txt",
        "--out",
        "intermediate_ca.crt",
    ];
    args.extend(key_args.iter().map(String::as_str));
    if guide_template {
        write_file(&env.dir, "intermediate.tpl", GUIDE_INTERMEDIATE_TEMPLATE);
        args.extend(["--template", "intermediate.tpl"]);
    } else {
        args.extend(["--set", "crl=http://crl.example.com/crl/ca.crl"]);
    }
    // The operator is shown what will be signed and may refuse.
    let (ok, out) = env.offline(&args, "n\n");
    assert!(!ok && out.contains("not signed"), "{out}");
    assert!(out.contains(INTERMEDIATE) && out.contains(CRL_URL), "{out}");
    assert!(!env.dir.join("intermediate_ca.crt").exists() && !env.dir.join("index.txt").exists());
    let (ok, out) = env.offline(&args, "y\n");
    assert!(ok, "{out}");

    let (ok, out) = env.openssl(&["verify", "-CAfile", "root_ca.crt", "intermediate_ca.crt"]);
    assert!(ok && out.contains("intermediate_ca.crt: OK"), "{out}");
    let text = env
        .openssl(&[
            "x509",
            "-in",
            "intermediate_ca.crt",
            "-noout",
            "-text",
            "-serial",
        ])
        .1;
    assert!(
        text.contains("CA:TRUE, pathlen:0")
            && text.contains(&format!("URI:{CRL_URL}"))
            && text.contains("Subject: CN = Mayfly Intermediate CA"),
        "{text}"
    );
    let serial = text
        .lines()
        .find_map(|l| l.strip_prefix("serial="))
        .unwrap_or_default()
        .to_owned();
    let index = std::fs::read_to_string(env.dir.join("index.txt")).unwrap_or_default();
    assert!(
        index.starts_with("V\t")
            && index.contains(&format!("\t{serial}\tunknown\t/{INTERMEDIATE}")),
        "{serial}: {index}"
    );
    // A second signing of the same name into the same file is refused.
    let (ok, out) = env.offline(&[&args[..], &["--yes"]].concat(), "");
    assert!(!ok && out.contains("already exists"), "{out}");

    if let Some(lint) = venv_tool("lint_pkix_cert") {
        for name in ["root_ca.crt", "intermediate_ca.crt"] {
            let out = Command::new(&lint)
                .args(["lint", "-s", "WARNING", "-f", "JSON"])
                .arg(env.dir.join(name))
                .output()
                .unwrap_or_else(|e| panic!("{e}"));
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(!text.contains("\"code\""), "{name}: {text}");
        }
    }
}

/// `mayfly-root crl ... --days 30 --out ca.crl`.
fn root_crl(env: &Env) {
    let key = env.root_key();
    let key_args = env.key_args();
    let mut args = vec![
        "crl",
        "--index",
        "index.txt",
        "--ca",
        "root_ca.crt",
        "--ca-key",
        &key,
        "--crlnumber",
        "crlnumber",
        "--days",
        "30",
        "--out",
        "ca.crl",
    ];
    args.extend(key_args.iter().map(String::as_str));
    let (ok, text) = env.offline(&args, "");
    assert!(ok, "{text}");
}

/// The relying party: the leaf's chain against the root's CRL and the online CA's.
fn verify_leaf(env: &Env) -> (bool, String) {
    env.openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        "root_ca.crt",
        "-untrusted",
        "intermediate_ca.crt",
        "-CRLfile",
        "ca.crl",
        "-CRLfile",
        "intermediate.crl",
        "leaf.crt",
    ])
}

/// The online CA issues a leaf under the offline-signed intermediate and serves its CRL.
fn online_leaf(env: &Env, online: &mut OnlineCa) {
    let printed = online.install();
    let fingerprint = env
        .openssl(&[
            "x509",
            "-in",
            "root_ca.crt",
            "-noout",
            "-fingerprint",
            "-sha256",
        ])
        .1
        .trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .replace(':', "")
        .to_lowercase();
    assert_eq!(printed, fingerprint);
    online.serve();
    let url = online.url();
    online.mayfly(&[
        "ca",
        "bootstrap",
        "--ca-url",
        &url,
        "--fingerprint",
        &fingerprint,
    ]);
    online.mayfly(&[
        "ca",
        "certificate",
        "app.example.com",
        "leaf.crt",
        "leaf.key",
        "--provisioner",
        "ops",
        "--password-file",
        "prov-pass.txt",
    ]);
    online.fetch_crl(&env.curl, "intermediate.crl");
    let text = env
        .openssl(&[
            "crl",
            "-in",
            "intermediate.crl",
            "-inform",
            "DER",
            "-noout",
            "-text",
            "-CAfile",
            "intermediate_ca.crt",
        ])
        .1;
    assert!(
        text.contains("verify OK") && text.contains("Issuer: CN = Mayfly Intermediate CA"),
        "{text}"
    );
}

fn whole_flow(hsm: bool) {
    let tmp = mayfly_testkit::temp_dir();
    let Some(env) = setup(tmp.path(), hsm) else {
        return;
    };
    let mut online = OnlineCa::new(&env.dir);
    init_root(&env);
    online.init_csr();
    sign_intermediate(&env, !hsm);
    write_file(&env.dir, "crlnumber", "01\n");
    root_crl(&env);
    online_leaf(&env, &mut online);
    let (ok, out) = verify_leaf(&env);
    assert!(ok && out.contains("leaf.crt: OK"), "{out}");

    let serial = env
        .openssl(&["x509", "-in", "intermediate_ca.crt", "-noout", "-serial"])
        .1
        .trim()
        .trim_start_matches("serial=")
        .to_owned();
    let (ok, out) = env.offline(
        &[
            "revoke",
            "--index",
            "index.txt",
            "--serial",
            &serial,
            "--reason",
            "keyCompromise",
        ],
        "",
    );
    assert!(ok, "{out}");
    root_crl(&env);
    let (ok, out) = verify_leaf(&env);
    assert!(
        !ok && out.contains("error 23 at 1 depth lookup: certificate revoked"),
        "{out}"
    );
    // Plain -crl_check looks at the leaf's CRL only and misses it, as the doc warns.
    let (ok, out) = env.openssl(&[
        "verify",
        "-crl_check",
        "-CAfile",
        "root_ca.crt",
        "-untrusted",
        "intermediate_ca.crt",
        "-CRLfile",
        "intermediate.crl",
        "leaf.crt",
    ]);
    assert!(ok && out.contains("leaf.crt: OK"), "{out}");
    let text = env
        .openssl(&[
            "crl",
            "-in",
            "ca.crl",
            "-inform",
            "DER",
            "-noout",
            "-text",
            "-CAfile",
            "root_ca.crt",
        ])
        .1;
    assert!(
        text.contains("verify OK")
            && text.contains("Key Compromise")
            && text.contains("X509v3 CRL Number: \n                2"),
        "{text}"
    );
}

#[test]
fn whole_flow_with_an_encrypted_root_key_file() {
    whole_flow(false);
}

#[test]
fn whole_flow_with_the_root_key_in_softhsm() {
    whole_flow(true);
}

#[test]
fn a_csr_with_a_bad_signature_or_the_guides_stray_brace_is_refused() {
    let tmp = mayfly_testkit::temp_dir();
    let Some(env) = setup(tmp.path(), false) else {
        return;
    };
    init_root(&env);
    intermediate_csr(&env);
    // The template exactly as the flattened guide prints it ends in `} }`: a clear error.
    write_file(
        &env.dir,
        "guide.tpl",
        format!("{GUIDE_INTERMEDIATE_TEMPLATE} }}"),
    );
    let (ok, out) = env.offline(
        &[
            "sign-csr",
            "intermediate_ca.csr",
            "--ca",
            "root_ca.crt",
            "--ca-key",
            "root_ca_key",
            "--password-file",
            "pass.txt",
            "--template",
            "guide.tpl",
            "--out",
            "intermediate_ca.crt",
            "--yes",
        ],
        "",
    );
    assert!(
        !ok && out.contains("did not render to a certificate profile"),
        "{out}"
    );
    // A CSR whose signature does not verify.
    run_ok(Command::new(&env.openssl).current_dir(&env.dir).args([
        "req",
        "-in",
        "intermediate_ca.csr",
        "-outform",
        "DER",
        "-out",
        "int.der",
    ]));
    let mut bytes = std::fs::read(env.dir.join("int.der")).unwrap_or_default();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    std::fs::write(env.dir.join("bad.der"), bytes).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = env.offline(
        &[
            "sign-csr",
            "bad.der",
            "--ca",
            "root_ca.crt",
            "--ca-key",
            "root_ca_key",
            "--password-file",
            "pass.txt",
            "--out",
            "intermediate_ca.crt",
            "--yes",
        ],
        "",
    );
    assert!(!ok && out.contains("CSR"), "{out}");
    assert!(!env.dir.join("intermediate_ca.crt").exists());
}

/// The checker itself: a shell whose subshell opens a TCP socket is caught, so a socket
/// opened by any `mayfly-root` command (or a child it forks) would fail its test.
#[test]
fn the_strace_check_sees_a_socket_opened_by_a_child_process() {
    let Some(bash) = tool("bash") else {
        return;
    };
    let Some((_, calls)) = common::network_calls(
        Command::new(bash).args(["-c", "(exec 3<>/dev/tcp/127.0.0.1/9); true"]),
        "",
    ) else {
        return;
    };
    for call in [
        "socket(AF_INET, SOCK_STREAM",
        "connect(3, {sa_family=AF_INET",
    ] {
        assert!(calls.iter().any(|c| c.contains(call)), "{call}: {calls:#?}");
    }
}
