//! Shared by the integration tests: the strace-checked runner every `mayfly-root` command
//! goes through (no command may open a socket), and a SoftHSM2 token in a test directory.
#![allow(dead_code, reason = "each test binary uses a different part")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use mayfly_testkit::{run_ok, tool, write_file};

/// `mayfly-root` in `dir`.
pub fn mayfly_root(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mayfly-root"));
    cmd.current_dir(dir);
    cmd
}

/// strace, looked up once. Missing, it fails the test under CI (`mayfly_testkit::tool`);
/// elsewhere commands then run untraced after a skip note.
fn strace() -> Option<&'static Path> {
    static STRACE: OnceLock<Option<PathBuf>> = OnceLock::new();
    STRACE.get_or_init(|| tool("strace")).as_deref()
}

/// Runs `cmd` (its program, arguments, directory and environment variables) under
/// `strace -f -e trace=network`, feeding it `stdin`. Returns its output and every network
/// system call strace saw in it or its children (`socket`, `connect`, `getpeername`...), or
/// `None` without strace outside CI.
pub fn network_calls(cmd: &mut Command, stdin: &str) -> Option<(Output, Vec<String>)> {
    let strace = strace()?;
    let trace_dir = mayfly_testkit::temp_dir();
    let trace = trace_dir.path().join("strace.txt");
    let mut traced = Command::new(strace);
    traced
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=network",
            "-e",
            "signal=none",
            "-o",
        ])
        .arg(&trace)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        traced.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => traced.env(key, value),
            None => traced.env_remove(key),
        };
    }
    let output = feed(&mut traced, stdin);
    let text = std::fs::read_to_string(&trace)
        .unwrap_or_else(|e| panic!("strace wrote no trace for {cmd:?}: {e}"));
    Some((output, text.lines().map(str::to_owned).collect()))
}

/// Runs `cmd` with `stdin` as its standard input and captures its output.
fn feed(cmd: &mut Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    if let Some(mut input) = child.stdin.take() {
        // A command that exits without reading its input closes the pipe: not an error.
        let _ = input.write_all(stdin.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("waiting for {cmd:?}: {e}"))
}

/// Runs `cmd` offline: under strace (see [`network_calls`]), failing the test if it made any
/// network system call. Returns its output.
pub fn offline_output(cmd: &mut Command, stdin: &str) -> Output {
    let Some((output, calls)) = network_calls(cmd, stdin) else {
        return feed(cmd, stdin);
    };
    assert!(calls.is_empty(), "{cmd:?} used the network: {calls:#?}");
    output
}

/// [`offline_output`] with `stdin`; returns whether it exited 0, and stdout and stderr joined.
pub fn offline(cmd: &mut Command, stdin: &str) -> (bool, String) {
    let out = offline_output(cmd, stdin);
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// [`offline`] with no input, which must exit 0; returns stdout and stderr joined.
pub fn offline_ok(cmd: &mut Command) -> String {
    let (ok, text) = offline(cmd, "");
    assert!(ok, "{cmd:?} failed:\n{text}");
    text
}

/// SoftHSM2's PKCS#11 module as Debian installs it.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A fresh token `root-token` (user PIN 1234, in `dir/pin.txt`) under `dir/tokens`. Returns
/// the `SOFTHSM2_CONF` file to set and the `pkcs11:` URI of the key `object` in it, or `None`
/// when SoftHSM2 is not installed (outside CI).
pub fn softhsm(dir: &Path, object: &str) -> Option<(PathBuf, String)> {
    let util = tool("softhsm2-util")?;
    tool(MODULE)?;
    std::fs::create_dir_all(dir.join("tokens")).unwrap_or_else(|e| panic!("{e}"));
    // log.level ERROR: SoftHSM's INFO lines go to syslog through /dev/log.
    let conf = write_file(
        dir,
        "softhsm2.conf",
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
            dir.join("tokens").display()
        ),
    );
    run_ok(Command::new(util).env("SOFTHSM2_CONF", &conf).args([
        "--init-token",
        "--free",
        "--label",
        "root-token",
        "--so-pin",
        "12345678",
        "--pin",
        "1234",
    ]));
    let pin = write_file(dir, "pin.txt", "1234\n");
    let uri = format!(
        "pkcs11:token=root-token;object={object}?module-path={MODULE}&pin-source=file:{}",
        pin.display()
    );
    Some((conf, uri))
}
