//! X.509 allows any SHA-2 hash with any ECDSA curve (RFC 5758): openssl signs P-384 CSRs with
//! SHA-256 by default, and Mayfly must verify them.

use std::process::Command;

use mayfly_keys::{PublicKey, SignatureAlgorithm, Verifier};

#[test]
fn verifies_openssl_p384_sha256_and_p256_sha384_signatures() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let dir = mayfly_testkit::temp_dir();
    let message = mayfly_testkit::write_file(dir.path(), "msg", b"cross-hash");
    for (curve, digest, algorithm) in [
        ("P-384", "-sha256", SignatureAlgorithm::EcdsaSha256),
        ("P-256", "-sha384", SignatureAlgorithm::EcdsaSha384),
    ] {
        let key = dir.path().join(format!("{curve}.key"));
        let sig = dir.path().join(format!("{curve}.sig"));
        let public = dir.path().join(format!("{curve}.pub"));
        mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["genpkey", "-algorithm", "EC", "-pkeyopt"])
                .arg(format!("ec_paramgen_curve:{curve}"))
                .arg("-out")
                .arg(&key),
        );
        mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["pkey", "-pubout", "-in"])
                .arg(&key)
                .arg("-out")
                .arg(&public),
        );
        mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["dgst", digest, "-sign"])
                .arg(&key)
                .arg("-out")
                .arg(&sig)
                .arg(&message),
        );
        let public = PublicKey::from_pem(&std::fs::read_to_string(&public).unwrap()).unwrap();
        let signature = std::fs::read(&sig).unwrap();
        public.verify(algorithm, b"cross-hash", &signature).unwrap();
        assert!(
            public.verify(algorithm, b"tampered", &signature).is_err(),
            "{curve} {digest}"
        );
    }
}
