//! `mayfly-root ceremony`: a root, an intermediate and a CRL ceremony from YAML files, their
//! transcripts checked against openssl's digests and fingerprints. Every `mayfly-root`
//! command runs under strace, which must see no network system call.

use std::path::Path;
use std::process::Command;

use mayfly_testkit::{run, run_ok, tool, write_file};
use serde_json::Value;

mod common;

/// `mayfly-root ceremony FILE` in `dir`, offline, with SoftHSM2's config from `dir`.
fn ceremony(dir: &Path, file: &str) -> (bool, String) {
    common::offline(
        common::mayfly_root(dir)
            .env("SOFTHSM2_CONF", dir.join("softhsm2.conf"))
            .args(["ceremony", file]),
        "",
    )
}

fn sha256(openssl: &Path, file: &Path) -> String {
    let out = run_ok(
        Command::new(openssl)
            .args(["dgst", "-sha256", "-r"])
            .arg(file),
    );
    out.split_whitespace().next().unwrap_or_default().to_owned()
}

fn fingerprint(openssl: &Path, cert: &Path) -> String {
    let out = run_ok(
        Command::new(openssl)
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    );
    out.trim()
        .rsplit('=')
        .next()
        .unwrap_or_default()
        .replace(':', "")
        .to_lowercase()
}

/// Every output's SHA-256 in the transcript is the file's (and every input's, unless the
/// ceremony rewrote it), and each certificate's fingerprint is openssl's.
fn check_transcript(openssl: &Path, base: &Path, path: &str) -> Value {
    let text = std::fs::read_to_string(base.join(path)).unwrap_or_default();
    let t: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}\n{text}"));
    let outputs = t["outputs"].as_array().cloned().unwrap_or_default();
    let rewritten = |item: &Value| outputs.iter().any(|o| o["path"] == item["path"]);
    let inputs = t["inputs"].as_array().cloned().unwrap_or_default();
    for item in inputs.iter().filter(|i| !rewritten(i)).chain(&outputs) {
        let file = base.join(item["path"].as_str().unwrap_or_default());
        assert_eq!(item["sha256"], sha256(openssl, &file).as_str(), "{item}");
        if let Some(fp) = item["certificate"]["fingerprintSha256"].as_str() {
            assert_eq!(fp, fingerprint(openssl, &file));
        }
    }
    assert!(t["started"].as_str().is_some_and(|s| s.ends_with('Z')));
    assert!(t["finished"].is_string() && t["ceremonyFile"]["sha256"].is_string());
    t
}

#[test]
fn root_intermediate_and_crl_ceremonies_write_transcripts() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    std::fs::create_dir_all(dir.join("usb")).unwrap_or_else(|e| panic!("{e}"));
    write_file(dir, "usb/pw.txt", "ceremony password\n");

    write_file(
        dir,
        "root.yaml",
        "ceremony: root\ntranscript: root-transcript.json\nroot:\n  name: Ceremony Root\n  key-type: P-384\n  not-after: 87600h\n  key:\n    file: root.key\n    password-file: usb/pw.txt\n  certificate: root.crt\n",
    );
    let (ok, out) = ceremony(dir, "root.yaml");
    assert!(ok, "{out}");
    let t = check_transcript(&openssl, dir, "root-transcript.json");
    assert_eq!(t["ceremony"], "root");
    assert_eq!(
        t["outputs"][1]["certificate"]["subject"],
        "CN=Ceremony Root"
    );
    assert_eq!(t["outputs"][1]["certificate"]["publicKey"], "EC P-384");
    // Running it again refuses: the transcript and outputs exist.
    let (ok, out) = ceremony(dir, "root.yaml");
    assert!(!ok && out.contains("already exists"), "{out}");

    run_ok(Command::new(&openssl).current_dir(dir).args([
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "int.key",
        "-subj",
        "/O=Example/CN=Example Intermediate CA",
        "-out",
        "int.csr",
    ]));
    let csr_sha = sha256(&openssl, &dir.join("int.csr"));
    let intermediate = format!(
        "ceremony: intermediate\ntranscript: int-transcript.json\nintermediate:\n  csr: int.csr\n  csr-sha256: {csr_sha}\n  subject: CN=Example Intermediate CA,O=Example\n  set:\n    crl: http://crl.example.com/crl/ca.crl\n  not-after: 43800h\n  issuer:\n    certificate: root.crt\n    key: root.key\n    password-file: usb/pw.txt\n  index: index.txt\n  certificate: int.crt\n"
    );
    // A CSR other than the one the file pins is refused.
    write_file(
        dir,
        "wrong.yaml",
        intermediate.replace(&csr_sha, &"0".repeat(64)),
    );
    let (ok, out) = ceremony(dir, "wrong.yaml");
    assert!(!ok && out.contains("not the 0000"), "{out}");
    write_file(
        dir,
        "wrong.yaml",
        intermediate.replace("subject: CN=Example", "subject: CN=Other"),
    );
    let (ok, out) = ceremony(dir, "wrong.yaml");
    assert!(!ok && out.contains("the CSR's subject is"), "{out}");
    assert!(!dir.join("int.crt").exists());

    write_file(dir, "int.yaml", &intermediate);
    let (ok, out) = ceremony(dir, "int.yaml");
    assert!(ok, "{out}");
    let t = check_transcript(&openssl, dir, "int-transcript.json");
    let serial = t["outputs"][0]["certificate"]["serialNumber"]
        .as_str()
        .unwrap_or_default()
        .to_uppercase();
    assert_eq!(t["signingKey"]["location"], "root.key");
    let (ok, out) = run(Command::new(&openssl)
        .current_dir(dir)
        .args(["verify", "-CAfile", "root.crt", "int.crt"]));
    assert!(ok, "{out}");

    write_file(dir, "crlnumber", "10\n");
    write_file(
        dir,
        "crl.yaml",
        format!(
            "ceremony: crl\ntranscript: crl-transcript.json\ncrl:\n  issuer:\n    certificate: root.crt\n    key: root.key\n    password-file: usb/pw.txt\n  index: index.txt\n  crlnumber: crlnumber\n  next-update: 720h\n  revoke:\n    - serial: {serial}\n      reason: cessationOfOperation\n  format: pem\n  out: root.crl\n"
        ),
    );
    let (ok, out) = ceremony(dir, "crl.yaml");
    assert!(ok, "{out}");
    let t = check_transcript(&openssl, dir, "crl-transcript.json");
    assert_eq!(t["outputs"][0]["crl"]["number"], "10");
    assert_eq!(t["outputs"][0]["crl"]["entries"], 1);
    let (ok, out) = run(Command::new(&openssl).current_dir(dir).args([
        "verify",
        "-crl_check",
        "-CAfile",
        "root.crt",
        "-CRLfile",
        "root.crl",
        "int.crt",
    ]));
    assert!(!ok && out.contains("certificate revoked"), "{out}");
}

#[test]
fn hsm_root_and_intermediate_ceremonies() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    let Some((_, uri)) = common::softhsm(dir, "root-key") else {
        return;
    };
    write_file(
        dir,
        "root.yaml",
        format!(
            "ceremony: root\ntranscript: root.json\nroot:\n  name: HSM Root\n  key-type: P-256\n  not-after: 8760h\n  key:\n    kms: \"{uri}\"\n  certificate: root.crt\n"
        ),
    );
    let (ok, out) = common::offline(
        common::mayfly_root(dir).args(["ceremony", "--validate", "root.yaml"]),
        "",
    );
    assert!(ok && out.contains("a valid root ceremony"), "{out}");
    assert!(!dir.join("root.crt").exists());
    let (ok, out) = ceremony(dir, "root.yaml");
    assert!(ok, "{out}");
    let t = check_transcript(&openssl, dir, "root.json");
    assert_eq!(t["signingKey"]["location"], uri.as_str());
    assert_eq!(t["outputs"].as_array().map(Vec::len), Some(1));
    run_ok(Command::new(&openssl).current_dir(dir).args([
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-384",
        "-sha384", // mayfly-template refuses P-384 + SHA-256, openssl's default (reported)
        "-nodes",
        "-keyout",
        "int.key",
        "-subj",
        "/CN=HSM Intermediate",
        "-out",
        "int.csr",
    ]));
    write_file(
        dir,
        "int.yaml",
        format!(
            "ceremony: intermediate\ntranscript: int.json\nintermediate:\n  csr: int.csr\n  subject: CN=HSM Intermediate\n  not-after: 4380h\n  issuer:\n    certificate: root.crt\n    key: \"{uri}\"\n  index: index.txt\n  certificate: int.crt\n"
        ),
    );
    let (ok, out) = ceremony(dir, "int.yaml");
    assert!(ok, "{out}");
    check_transcript(&openssl, dir, "int.json");
    // The intermediate verifies under the root: the token's key is the root's.
    let (ok, out) = run(Command::new(&openssl)
        .current_dir(dir)
        .args(["verify", "-CAfile", "root.crt", "int.crt"]));
    assert!(ok, "{out}");
}
