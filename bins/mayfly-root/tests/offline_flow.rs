//! The offline half of the two-tier flow, driven through the built binary and checked with
//! openssl, pkilint and pkcs11-tool: `init` a root (key encrypted on disk, or inside
//! SoftHSM2), `sign-csr` an intermediate's CSR (made by openssl), issue a leaf under it,
//! then `revoke` the intermediate and publish a CRL: `openssl verify -crl_check_all` then
//! rejects the leaf's chain. Every signing command runs under strace, which must see no socket.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mayfly_testkit::{run, run_ok, tool, venv_tool, write_file};

mod common;
use common::MODULE;

const CRL_URL: &str = "http://crl.example.com/crl/ca.crl";

/// The production guide's intermediate.tpl, as the guide prints it minus its stray final `}`.
const GUIDE_TEMPLATE: &str = r#"{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	},
	"crlDistributionPoints": ["http://crl.example.com/crl/ca.crl"]
}"#;

const LEAF_EXT: &str = "[leaf]\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:app.example.com\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always\n";

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
    strace: PathBuf,
    key: RootKey,
}

impl Env {
    fn root(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mayfly-root"));
        cmd.current_dir(&self.dir);
        if let RootKey::Hsm { conf, .. } = &self.key {
            cmd.env("SOFTHSM2_CONF", conf);
        }
        cmd
    }

    /// `mayfly-root ARGS` under `strace -f -e trace=network`: it must open no socket.
    fn offline(&self, args: &[&str], stdin: &str) -> (bool, String) {
        let trace = self.dir.join("strace.txt");
        let mut cmd = Command::new(&self.strace);
        cmd.current_dir(&self.dir)
            .args(["-f", "-e", "trace=network", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_mayfly-root"))
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let RootKey::Hsm { conf, .. } = &self.key {
            cmd.env("SOFTHSM2_CONF", conf);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("strace: {e}"));
        if let Some(mut input) = child.stdin.take() {
            std::io::Write::write_all(&mut input, stdin.as_bytes()).unwrap_or_default();
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("strace: {e}"));
        let traced = std::fs::read_to_string(&trace).unwrap_or_default();
        let calls: Vec<&str> = traced.lines().filter(|l| !l.contains("+++")).collect();
        assert!(
            calls.is_empty(),
            "mayfly-root {args:?} used the network: {calls:?}"
        );
        let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }

    fn openssl(&self, args: &[&str]) -> (bool, String) {
        run(Command::new(&self.openssl)
            .current_dir(&self.dir)
            .args(args))
    }

    fn root_key(&self) -> String {
        match &self.key {
            RootKey::File => "root.key".into(),
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
    let strace = tool("strace")?;
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
        strace,
        key,
    })
}

fn init_root(env: &Env) {
    let mut args = vec!["init", "--name", "Offline Root", "--out", "root.crt"];
    let key = env.root_key();
    match &env.key {
        RootKey::File => args.extend(["--key-out", "root.key", "--password-file", "pass.txt"]),
        RootKey::Hsm { .. } => args.extend(["--kms", key.as_str()]),
    }
    let (ok, out) = env.offline(&args, "");
    assert!(ok, "{out}");
    let text = env
        .openssl(&["x509", "-in", "root.crt", "-noout", "-text"])
        .1;
    assert!(
        text.contains("CA:TRUE, pathlen:1") && text.contains("Certificate Sign, CRL Sign"),
        "{text}"
    );
    match &env.key {
        RootKey::File => {
            let pem = std::fs::read_to_string(env.dir.join("root.key")).unwrap_or_default();
            assert!(pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
            let mode = std::os::unix::fs::PermissionsExt::mode(
                &std::fs::metadata(env.dir.join("root.key"))
                    .unwrap_or_else(|e| panic!("{e}"))
                    .permissions(),
            );
            assert_eq!(mode & 0o777, 0o600);
            // openssl decrypts it with the same password and finds the root's key.
            let (ok, out) = env.openssl(&[
                "x509", "-in", "root.crt", "-noout", "-pubkey", "-out", "a.pub",
            ]);
            assert!(ok, "{out}");
            let (ok, out) = env.openssl(&[
                "pkey",
                "-in",
                "root.key",
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
        "/O=Mayfly/CN=Mayfly Intermediate CA",
        "-out",
        "int.csr",
    ]));
}

fn sign_intermediate(env: &Env, guide_template: bool) {
    let key = env.root_key();
    let key_args = env.key_args();
    let mut args = vec![
        "sign-csr", "int.csr", "--ca", "root.crt", "--ca-key", &key, "--out", "int.crt",
    ];
    args.extend(key_args.iter().map(String::as_str));
    if guide_template {
        write_file(&env.dir, "intermediate.tpl", GUIDE_TEMPLATE);
        args.extend(["--template", "intermediate.tpl"]);
    } else {
        args.extend(["--set", "crl=http://crl.example.com/crl/ca.crl"]);
    }
    // The operator is shown what will be signed and may refuse.
    let (ok, out) = env.offline(&args, "n\n");
    assert!(!ok && out.contains("not signed"), "{out}");
    assert!(
        out.contains("CN=Mayfly Intermediate CA") && out.contains(CRL_URL),
        "{out}"
    );
    assert!(!env.dir.join("int.crt").exists() && !env.dir.join("index.txt").exists());
    let (ok, out) = env.offline(&args, "y\n");
    assert!(ok, "{out}");

    let (ok, out) = env.openssl(&["verify", "-CAfile", "root.crt", "int.crt"]);
    assert!(ok && out.contains("int.crt: OK"), "{out}");
    let text = env
        .openssl(&["x509", "-in", "int.crt", "-noout", "-text", "-serial"])
        .1;
    assert!(
        text.contains("CA:TRUE, pathlen:0")
            && text.contains(&format!("URI:{CRL_URL}"))
            && text.contains("Subject: O = Mayfly, CN = Mayfly Intermediate CA"),
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
            && index.contains(&format!(
                "\t{serial}\tunknown\t/O=Mayfly/CN=Mayfly Intermediate CA"
            )),
        "{serial}: {index}"
    );
    // A second signing of the same name into the same file is refused.
    let (ok, out) = env.offline(&[&args[..], &["--yes"]].concat(), "");
    assert!(!ok && out.contains("already exists"), "{out}");

    if let Some(lint) = venv_tool("lint_pkix_cert") {
        for name in ["root.crt", "int.crt"] {
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

/// A leaf under the intermediate (openssl stands in for the online CA) and the
/// intermediate's own CRL (empty).
fn leaf_and_intermediate_crl(env: &Env) {
    write_file(&env.dir, "leaf.cnf", LEAF_EXT);
    run_ok(Command::new(&env.openssl).current_dir(&env.dir).args([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        "leaf.key",
        "-subj",
        "/CN=app.example.com",
        "-out",
        "leaf.csr",
    ]));
    run_ok(Command::new(&env.openssl).current_dir(&env.dir).args([
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "int.crt",
        "-CAkey",
        "int.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.cnf",
        "-extensions",
        "leaf",
        "-out",
        "leaf.crt",
    ]));
    write_file(&env.dir, "int-index.txt", "");
    run_ok(env.root().args([
        "crl",
        "--index",
        "int-index.txt",
        "--ca",
        "int.crt",
        "--ca-key",
        "int.key",
        "--out",
        "int.crl",
    ]));
}

fn root_crl(env: &Env, out: &str) {
    let key = env.root_key();
    let key_args = env.key_args();
    let mut args = vec![
        "crl",
        "--index",
        "index.txt",
        "--ca",
        "root.crt",
        "--ca-key",
        &key,
        "--crlnumber",
        "crlnumber",
        "--out",
        out,
    ];
    args.extend(key_args.iter().map(String::as_str));
    let (ok, text) = env.offline(&args, "");
    assert!(ok, "{text}");
}

fn verify_leaf(env: &Env, root_crl: &str) -> (bool, String) {
    env.openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        "root.crt",
        "-untrusted",
        "int.crt",
        "-CRLfile",
        root_crl,
        "-CRLfile",
        "int.crl",
        "leaf.crt",
    ])
}

fn offline_flow(hsm: bool) {
    let tmp = mayfly_testkit::temp_dir();
    let Some(env) = setup(tmp.path(), hsm) else {
        return;
    };
    init_root(&env);
    intermediate_csr(&env);
    sign_intermediate(&env, !hsm);
    leaf_and_intermediate_crl(&env);

    write_file(&env.dir, "crlnumber", "01\n");
    root_crl(&env, "root-1.crl");
    let (ok, out) = verify_leaf(&env, "root-1.crl");
    assert!(ok && out.contains("leaf.crt: OK"), "{out}");

    let serial = env
        .openssl(&["x509", "-in", "int.crt", "-noout", "-serial"])
        .1
        .trim()
        .trim_start_matches("serial=")
        .to_owned();
    run_ok(env.root().args([
        "revoke",
        "--index",
        "index.txt",
        "--serial",
        &serial,
        "--reason",
        "keyCompromise",
    ]));
    root_crl(&env, "root-2.crl");
    let (ok, out) = verify_leaf(&env, "root-2.crl");
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    let text = env
        .openssl(&[
            "crl",
            "-in",
            "root-2.crl",
            "-noout",
            "-text",
            "-CAfile",
            "root.crt",
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
fn offline_flow_with_an_encrypted_file_key() {
    offline_flow(false);
}

#[test]
fn offline_flow_with_the_root_key_in_softhsm() {
    offline_flow(true);
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
    write_file(&env.dir, "guide.tpl", format!("{GUIDE_TEMPLATE} }}"));
    let (ok, out) = run(env.root().args([
        "sign-csr",
        "int.csr",
        "--ca",
        "root.crt",
        "--ca-key",
        "root.key",
        "--password-file",
        "pass.txt",
        "--template",
        "guide.tpl",
        "--out",
        "int.crt",
        "--yes",
    ]));
    assert!(
        !ok && out.contains("did not render to a certificate profile"),
        "{out}"
    );
    // A CSR whose signature does not verify.
    run_ok(Command::new(&env.openssl).current_dir(&env.dir).args([
        "req", "-in", "int.csr", "-outform", "DER", "-out", "int.der",
    ]));
    let mut bytes = std::fs::read(env.dir.join("int.der")).unwrap_or_default();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    std::fs::write(env.dir.join("bad.der"), bytes).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = run(env.root().args([
        "sign-csr",
        "bad.der",
        "--ca",
        "root.crt",
        "--ca-key",
        "root.key",
        "--password-file",
        "pass.txt",
        "--out",
        "int.crt",
        "--yes",
    ]));
    assert!(!ok && out.contains("CSR"), "{out}");
    assert!(!env.dir.join("int.crt").exists());
}
