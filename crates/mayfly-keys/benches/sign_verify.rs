//! Sign and verify, in isolation, for every key type and backend.
//!
//! `cargo bench -p mayfly-keys` measures the pure-Rust (RustCrypto) software backend;
//! `cargo bench -p mayfly-keys --features aws-lc` the aws-lc-rs one. When SoftHSM2 is
//! installed, the PKCS#11 backend is measured against a token made in a temp dir (the bench
//! re-runs itself with `SOFTHSM2_CONF` pointing at it, as the module reads only that).
#![allow(
    clippy::disallowed_methods,
    reason = "the bench hands the temp token's configuration to its own child process"
)]
#![allow(clippy::unwrap_used, reason = "a bench panics on set-up failure")]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::Criterion;
use mayfly_keys::{KeyType, Password, Pkcs11Location, Pkcs11Signer, PrivateKey, Signer, Verifier};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const MESSAGE: &[u8] = b"a tbsCertificate is a few hundred bytes long; this stands in for one";

const BACKEND: &str = if cfg!(feature = "aws-lc") {
    "software-aws-lc"
} else {
    "software-rustcrypto"
};

fn bench_signer(c: &mut Criterion, backend: &str, signer: &dyn Signer) {
    let name = signer.public_key().key_type().to_string();
    c.bench_function(&format!("sign/{backend}/{name}"), |b| {
        b.iter(|| signer.sign(black_box(MESSAGE)).unwrap())
    });
    let signature = signer.sign(MESSAGE).unwrap();
    let (public, algorithm) = (signer.public_key(), signer.algorithm());
    c.bench_function(&format!("verify/{backend}/{name}"), |b| {
        b.iter(|| {
            public
                .verify(algorithm, black_box(MESSAGE), black_box(&signature))
                .unwrap()
        })
    });
}

fn main() {
    let softhsm_dir = std::env::var_os("MAYFLY_BENCH_SOFTHSM_DIR").map(PathBuf::from);
    if softhsm_dir.is_none()
        && let Some((dir, conf)) = make_token()
    {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(std::env::args_os().skip(1))
            .env("SOFTHSM2_CONF", conf)
            .env("MAYFLY_BENCH_SOFTHSM_DIR", dir.path())
            .status()
            .unwrap();
        drop(dir);
        std::process::exit(status.code().unwrap_or(1));
    }
    let mut c = Criterion::default().configure_from_args();
    for key_type in [
        KeyType::EcP256,
        KeyType::EcP384,
        KeyType::Ed25519,
        KeyType::Rsa(2048),
        KeyType::Rsa(3072),
        KeyType::Rsa(4096),
    ] {
        bench_signer(&mut c, BACKEND, &PrivateKey::generate(key_type).unwrap());
    }
    if let Some(dir) = softhsm_dir {
        let pin = Password::from_bytes(b"1234".to_vec());
        for (object, key_type) in [
            ("p256", KeyType::EcP256),
            ("p384", KeyType::EcP384),
            ("rsa", KeyType::Rsa(2048)),
        ] {
            let location = Pkcs11Location {
                module: MODULE.into(),
                token: "bench".into(),
                object: object.into(),
                pin_file: Some(dir.join("pin")),
            };
            let signer = Pkcs11Signer::generate(&location, Some(&pin), key_type).unwrap();
            bench_signer(&mut c, "pkcs11-softhsm", &signer);
        }
    }
    c.final_summary();
}

/// A fresh SoftHSM2 token in a temp dir, or `None` when SoftHSM2 is not installed.
fn make_token() -> Option<(tempfile::TempDir, PathBuf)> {
    if !Path::new(MODULE).exists() {
        eprintln!("SoftHSM2 is not installed: the PKCS#11 backend is not measured");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("pin"), "1234").unwrap();
    let ok = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            "12345678",
            "--pin",
            "1234",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    ok.then_some((dir, conf))
}
