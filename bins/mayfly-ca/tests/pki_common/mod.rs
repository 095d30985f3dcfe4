//! Helpers shared by the `init` and `provisioner` integration tests (`serve` has its own).

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use mayfly_testkit::run_ok;

/// The `mayfly-ca` binary, with stdin closed (never a terminal: no prompts).
pub fn mayfly_ca() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mayfly-ca"));
    command.stdin(Stdio::null()).env_remove("MAYFLY_PATH");
    command
}

/// Runs `mayfly-ca init` non-interactively into `dir/pki` with generated passwords, plus
/// `extra` flags; returns the PKI folder.
pub fn init_pki(dir: &Path, extra: &[&str]) -> PathBuf {
    let base = dir.join("pki");
    run_ok(
        mayfly_ca()
            .args([
                "init",
                "--name",
                "Test",
                "--dns",
                "ca.test",
                "--dns",
                "127.0.0.1",
            ])
            .args(["--provisioner", "ops@test", "--path"])
            .arg(&base)
            .args(extra),
    );
    base
}

/// The file's permission bits.
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Reads a file as text.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
