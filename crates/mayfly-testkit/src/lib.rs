//! Test support for Mayfly's suites: finding the outside tools interop tests drive (openssl,
//! SoftHSM2, certtool, the Python venv with pkilint/cryptography), the step fixtures, and the
//! database servers.
//!
//! A test that needs a missing tool is skipped with a message on a developer machine, but
//! **fails** under CI (`CI=true`): `scripts/test.sh` installs everything, so a missing tool
//! there is a broken set-up, never a reason to pass silently.
//!
//! ```
//! if let Some(openssl) = mayfly_testkit::tool("openssl") {
//!     let out = mayfly_testkit::run_ok(std::process::Command::new(openssl).arg("version"));
//!     assert!(out.contains("OpenSSL"));
//! }
//! ```
#![allow(
    clippy::disallowed_methods,
    reason = "test set-up reads CI and tool locations from the environment; never secrets"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// True when running under CI (`CI=true`), where missing tools are failures.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Reports that `what` is missing: panics under CI, prints a skip note otherwise.
pub fn missing(what: &str) {
    assert!(
        !under_ci(),
        "{what} is required under CI=true; scripts/test.sh installs it"
    );
    eprintln!("SKIPPED: {what} is not installed (run scripts/test.sh to install it)");
}

/// Finds an executable on `PATH` (or at an absolute path). `None` means the caller skips.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = if Path::new(name).is_absolute() {
        Path::new(name).is_file().then(|| PathBuf::from(name))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    if found.is_none() {
        missing(&format!("the tool `{name}`"));
    }
    found
}

/// The workspace root (the folder holding `Cargo.lock`), found at run time from the test's
/// package folder, so a build directory shared by two checkouts never points at the other.
pub fn workspace_root() -> PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .map_or(start.clone(), Path::to_path_buf)
}

/// The production guide's `intermediate.tpl` (with a CRL distribution point), as the guide
/// prints it minus its stray final `}`: the intermediate template operators copy.
pub const GUIDE_INTERMEDIATE_TEMPLATE: &str = r#"{
	"subject": {{ toJson .Subject }},
	"keyUsage": ["certSign", "crlSign"],
	"basicConstraints": {
		"isCA": true,
		"maxPathLen": 0
	},
	"crlDistributionPoints": ["http://crl.example.com/crl/ca.crl"]
}"#;

/// The step-ca fixtures (`../shared/fixtures/step` beside the checkout).
pub fn step_fixtures() -> PathBuf {
    let dir = workspace_root().join("../shared/fixtures/step");
    assert!(
        dir.is_dir(),
        "step fixtures not found at {}: the checkout must sit beside shared/",
        dir.display()
    );
    dir
}

/// A tool installed in the test venv (`pkilint`'s `lint_pkix_cert`, `python`, ...).
///
/// The venv is `$MAYFLY_TEST_VENV` or `.venv` at the workspace root, as `scripts/test.sh`
/// makes it.
pub fn venv_tool(name: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("MAYFLY_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv"));
    let path = venv.join("bin").join(name);
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!("`{name}` in the test venv {}", venv.display()));
        None
    }
}

/// pkilint findings at ERROR level and above (ERROR, FATAL) of `tool_name` (`lint_pkix_cert`,
/// `lint_pkix_signer_signee_cert_chain`, ...) on `files`, minus the ones every test PKI of
/// `localhost` and internal names expects (invalid domain syntax for `localhost`, CA/B Forum
/// internal names and addresses). pkilint exits with the number of findings it reports (at most
/// 255), so a crash, a load failure or output that is not its JSON report fails the test. Empty
/// when the venv lacks the tool outside CI (see [`missing`]).
pub fn pkilint_errors(tool_name: &str, files: &[PathBuf]) -> Vec<serde_json::Value> {
    let Some(lint) = venv_tool(tool_name) else {
        return Vec::new();
    };
    let out = Command::new(&lint)
        .args(["lint", "-s", "ERROR", "-f", "JSON"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", lint.display()));
    let text = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{tool_name}: {e}: {text}{stderr}"));
    let mut findings = Vec::new();
    for result in report["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{tool_name}: no results in {text}"))
    {
        for finding in result["finding_descriptions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let mut finding = finding.clone();
            finding["node_path"] = result["node_path"].clone();
            findings.push(finding);
        }
    }
    assert_eq!(
        out.status.code(),
        Some(i32::try_from(findings.len().min(255)).unwrap_or(255)),
        "{tool_name} exit status vs findings: {text}{stderr}"
    );
    findings.retain(|f| {
        let code = f["code"].as_str().unwrap_or_default();
        let message = f["message"].as_str().unwrap_or_default();
        let expected = (code == "pkix.invalid_domain_name_syntax" && message.contains("localhost"))
            || code == "cabf.internal_domain_name"
            || code == "cabf.internal_ip_address";
        !expected
    });
    findings
}

/// Runs `command`, panics with its output unless it exits 0, and returns its stdout and
/// stderr joined.
pub fn run_ok(command: &mut Command) -> String {
    let out = run(command);
    assert!(out.0, "{command:?} failed:\n{}", out.1);
    out.1
}

/// The stdout of `out`, the output of `what` (a command line, for the message), which must
/// have exited 0; panics with its stderr otherwise.
pub fn stdout_of_success(what: impl std::fmt::Debug, out: Output) -> String {
    assert!(
        out.status.success(),
        "{what:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The stderr of `out`, the output of `what`, which must have failed; panics if it exited 0.
pub fn stderr_of_failure(what: impl std::fmt::Debug, out: Output) -> String {
    assert!(!out.status.success(), "{what:?} should have failed");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `command` and returns whether it exited 0, with stdout and stderr joined.
pub fn run(command: &mut Command) -> (bool, String) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A fresh temporary directory, removed on drop.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("mayfly-test-")
        .tempdir()
        .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"))
}

/// Writes `contents` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// The MariaDB/MySQL URL the suites use (`MAYFLY_TEST_MYSQL_URL`, default root@127.0.0.1/test).
pub fn mysql_url() -> String {
    std::env::var("MAYFLY_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into())
}

/// The PostgreSQL URL the suites use (`MAYFLY_TEST_POSTGRES_URL`, default 127.0.0.1/test).
pub fn postgres_url() -> String {
    std::env::var("MAYFLY_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// True under `scripts/test.sh --long` (`MAYFLY_TEST_LONG=1`): the long variants run (20
/// crash rounds, the soak, fuzz smoke runs).
pub fn long_run() -> bool {
    std::env::var_os("MAYFLY_TEST_LONG").is_some_and(|v| v == "1")
}
