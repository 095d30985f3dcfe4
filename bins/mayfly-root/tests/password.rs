//! `mayfly-root password split|combine` and `change-pass`, with openssl reading the keys.
//! Every `mayfly-root` command runs under strace, which must see no network system call.

use std::process::Command;

use mayfly_testkit::{run, run_ok, tool, write_file};

mod common;
use common::{mayfly_root, offline, offline_ok, offline_output};

fn share_args(picks: &[u32]) -> Vec<String> {
    picks
        .iter()
        .map(|i| format!("shares/share-{i:03}.txt"))
        .collect()
}

#[test]
fn split_combine_and_change_pass_round_trip() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let tmp = mayfly_testkit::temp_dir();
    let dir = tmp.path();
    write_file(dir, "old.txt", "old password\n");
    write_file(dir, "new.txt", " new root password, leading space kept\n");

    // A key encrypted by openssl (PKCS#8, PBES2 AES-256-CBC).
    run_ok(Command::new(&openssl).current_dir(dir).args([
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-aes-256-cbc",
        "-pass",
        "file:old.txt",
        "-out",
        "root.key",
    ]));

    offline_ok(mayfly_root(dir).args([
        "password",
        "split",
        "--shares",
        "5",
        "--threshold",
        "3",
        "--password-file",
        "new.txt",
        "--out-dir",
        "shares",
    ]));
    for i in 1..=5 {
        let meta = std::fs::metadata(dir.join(format!("shares/share-{i:03}.txt")))
            .unwrap_or_else(|e| panic!("share {i}: {e}"));
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
    }
    // Splitting again into the same directory is refused.
    let (ok, out) = offline(
        mayfly_root(dir).args([
            "password",
            "split",
            "--shares",
            "5",
            "--threshold",
            "3",
            "--password-file",
            "new.txt",
            "--out-dir",
            "shares",
        ]),
        "",
    );
    assert!(!ok && out.contains("already exists"), "{out}");

    // Any three shares print the password (stdout is a pipe here).
    for picks in [[1, 3, 5], [2, 4, 5], [5, 1, 2]] {
        let out = offline_output(
            mayfly_root(dir)
                .args(["password", "combine"])
                .args(share_args(&picks)),
            "",
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b" new root password, leading space kept\n");
    }
    let (ok, out) = offline(
        mayfly_root(dir)
            .args(["password", "combine"])
            .args(share_args(&[1, 4])),
        "",
    );
    assert!(!ok && out.contains("2 share(s) given, 3 needed"), "{out}");

    // A mistyped share is named.
    let path = dir.join("shares/share-004.txt");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let at = text.find("\nshare: ").unwrap_or_default() + "\nshare: ".len();
    let mut typo = text.into_bytes();
    typo[at] = if typo[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&path, typo).unwrap_or_else(|e| panic!("{e}"));
    let (ok, out) = offline(
        mayfly_root(dir)
            .args(["password", "combine"])
            .args(share_args(&[1, 4, 5])),
        "",
    );
    assert!(
        !ok && out.contains("share-004.txt") && out.contains("mistyped"),
        "{out}"
    );

    // Combine to a file, then re-encrypt the key under the combined password.
    offline_ok(
        mayfly_root(dir)
            .args(["password", "combine", "--out", "combined.txt"])
            .args(share_args(&[2, 3, 5])),
    );
    // In place only with --force: a key file is never overwritten silently.
    let change_pass = [
        "change-pass",
        "root.key",
        "--password-file",
        "old.txt",
        "--new-password-file",
        "combined.txt",
    ];
    let before = std::fs::read(dir.join("root.key")).unwrap_or_default();
    let (ok, out) = offline(mayfly_root(dir).args(change_pass), "");
    assert!(!ok && out.contains("--force"), "{out}");
    assert_eq!(
        std::fs::read(dir.join("root.key")).unwrap_or_default(),
        before
    );
    offline_ok(mayfly_root(dir).args(change_pass).arg("--force"));
    let pem = std::fs::read_to_string(dir.join("root.key")).unwrap_or_default();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    let (ok, out) = run(Command::new(&openssl).current_dir(dir).args([
        "pkey",
        "-in",
        "root.key",
        "-passin",
        "file:new.txt",
        "-noout",
    ]));
    assert!(ok, "{out}");
    let (ok, _) = run(Command::new(&openssl).current_dir(dir).args([
        "pkey",
        "-in",
        "root.key",
        "-passin",
        "file:old.txt",
        "-noout",
    ]));
    assert!(!ok, "the old password still opens the key");
    let text =
        run_ok(
            Command::new(&openssl)
                .current_dir(dir)
                .args(["asn1parse", "-in", "root.key"]),
        );
    assert!(
        text.contains("aes-256-cbc") && text.contains("hmacWithSHA256"),
        "{text}"
    );

    // A wrong old password leaves the key as it was.
    let (ok, out) = offline(
        mayfly_root(dir).args([
            "change-pass",
            "root.key",
            "--password-file",
            "old.txt",
            "--new-password-file",
            "old.txt",
            "--force",
        ]),
        "",
    );
    assert!(!ok && out.contains("root.key"), "{out}");
    assert_eq!(
        std::fs::read_to_string(dir.join("root.key")).unwrap_or_default(),
        pem
    );
}
