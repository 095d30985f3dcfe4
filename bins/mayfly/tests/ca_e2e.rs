//! `mayfly ca ...` end to end against a real `mayfly-ca serve` (initialised into a temp
//! folder, on a free port): bootstrap, certificate, renew, revoke, renew after revoke
//! refused; `renew --daemon` riding out a CA restart, signalling a PID, and killed with
//! SIGKILL (between writing and renaming, under strace, and at many other points) leaving
//! whole certificate and key files every time; certificates with SANs and RSA or Ed25519
//! keys from the defaults.json `mayfly-ca init` wrote; the provisioner key fetched from
//! `/provisioners/{kid}/encrypted-key`.
#![allow(clippy::unwrap_used, reason = "a test panics on failure by design")]

use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use mayfly_client::{Identity, SignedCertificate};
use mayfly_keys::KeyType;
use mayfly_template::San;
use mayfly_testkit::{run_ok, stderr_of_failure, stdout_of_success, temp_dir, tool, write_file};

/// `mayfly-ca`, built next to `mayfly` (cargo builds only this package's binaries for its
/// tests, so it is built here when missing).
fn mayfly_ca() -> PathBuf {
    let mayfly = PathBuf::from(env!("CARGO_BIN_EXE_mayfly"));
    let bin_dir = mayfly.parent().unwrap();
    let ca = bin_dir.join("mayfly-ca");
    let target = bin_dir.parent().unwrap();
    let mut build = Command::new(env!("CARGO"));
    build
        .args([
            "build",
            "--quiet",
            "-p",
            "mayfly-ca",
            "--bin",
            "mayfly-ca",
            "--target-dir",
        ])
        .arg(target);
    if bin_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    run_ok(&mut build);
    assert!(ca.exists(), "{} was not built", ca.display());
    ca
}

/// A CA initialised in `dir/ca`, with a JWK provisioner `ops` (password in `dir/ppw`) and
/// certificates as short as 5 s allowed.
struct Ca {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Ca {
    fn init(dir: &Path) -> Self {
        Self::init_with(dir, &[])
    }

    /// [`Ca::init`] with more `mayfly-ca init` flags.
    fn init_with(dir: &Path, extra: &[&str]) -> Self {
        let bin = mayfly_ca();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        write_file(dir, "pw", "ca password\n");
        write_file(dir, "ppw", "provisioner password\n");
        for f in ["pw", "ppw"] {
            let perms = std::os::unix::fs::PermissionsExt::from_mode(0o600);
            std::fs::set_permissions(dir.join(f), perms).unwrap();
        }
        run_ok(
            Command::new(&bin)
                .args([
                    "init",
                    "--name",
                    "E2E",
                    "--dns",
                    "127.0.0.1",
                    "--provisioner",
                    "ops",
                ])
                .arg("--path")
                .arg(dir.join("ca"))
                .arg("--address")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--password-file")
                .arg(dir.join("pw"))
                .arg("--provisioner-password-file")
                .arg(dir.join("ppw"))
                .args(extra)
                .stdin(Stdio::null()),
        );
        let config = dir.join("ca/config/ca.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
        json["authority"]["claims"] = serde_json::json!({"minTLSCertDuration": "5s"});
        std::fs::write(&config, json.to_string()).unwrap();
        let mut ca = Self {
            dir: dir.to_path_buf(),
            bin,
            port,
            child: None,
        };
        ca.start();
        ca
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn fingerprint(&self) -> String {
        let defaults: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(self.dir.join("ca/config/defaults.json")).unwrap(),
        )
        .unwrap();
        defaults["fingerprint"].as_str().unwrap().to_owned()
    }

    fn start(&mut self) {
        let log = std::fs::File::create(self.dir.join("ca.log")).unwrap();
        self.child = Some(
            Command::new(&self.bin)
                .arg("serve")
                .arg(self.dir.join("ca/config/ca.json"))
                .arg("--password-file")
                .arg(self.dir.join("pw"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mayfly-ca serve did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Ca {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `mayfly ARGS` in `dir` with `$MAYFLY_PATH` at `dir/client` (where `bootstrap` writes).
fn mayfly(args: &[&str], dir: &Path) -> Output {
    mayfly_with_path(args, dir, &dir.join("client"))
}

/// Runs `mayfly ARGS` in `dir` with `$MAYFLY_PATH` at `mayfly_path`.
fn mayfly_with_path(args: &[&str], dir: &Path, mayfly_path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mayfly"))
        .args(args)
        .env("MAYFLY_PATH", mayfly_path)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(args: &[&str], dir: &Path) -> String {
    stdout_of_success(("mayfly", args), mayfly(args, dir))
}

fn fails(args: &[&str], dir: &Path) -> String {
    stderr_of_failure(("mayfly", args), mayfly(args, dir))
}

fn bootstrap(ca: &Ca, dir: &Path) {
    let fp = ca.fingerprint();
    ok(
        &[
            "ca",
            "bootstrap",
            "--ca-url",
            &ca.url(),
            "--fingerprint",
            &fp,
        ],
        dir,
    );
}

/// `mayfly ca certificate NAME NAME.crt NAME.key` minted with provisioner `ops`.
fn certificate(dir: &Path, name: &str, not_after: &str) -> SignedCertificate {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    let args = [
        "ca",
        "certificate",
        name,
        &crt,
        &key,
        "--provisioner",
        "ops",
        "--password-file",
        "ppw",
        "--not-after",
        not_after,
    ];
    ok(&args, dir);
    SignedCertificate::from_file(&dir.join(crt)).unwrap()
}

/// Reads NAME.crt and NAME.key as a pair (both whole, and matching).
fn pair(dir: &Path, name: &str) -> Identity {
    let crt = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    Identity::from_files(&crt, &key, None).unwrap()
}

#[test]
fn bootstrap_certificate_renew_revoke() {
    let Some(openssl) = tool("openssl") else {
        return;
    };
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init(dir);
    bootstrap(&ca, dir);
    assert_eq!(ok(&["ca", "health"], dir).trim(), "ok");
    let list: serde_json::Value =
        serde_json::from_str(&ok(&["ca", "provisioner", "list"], dir)).unwrap();
    assert_eq!(list[0]["name"], "ops");
    assert_eq!(list[0]["type"], "JWK");
    let roots = ok(&["ca", "roots"], dir);
    assert_eq!(
        roots,
        std::fs::read_to_string(dir.join("ca/certs/root_ca.crt")).unwrap()
    );

    // certificate: the chain verifies with OpenSSL against the bootstrapped root.
    let first = certificate(dir, "svc", "1h");
    let root = dir.join("client/certs/root_ca.crt");
    let verified = run_ok(
        Command::new(&openssl)
            .args(["verify", "-CAfile"])
            .arg(&root)
            .arg("-untrusted")
            .arg(dir.join("svc.crt"))
            .arg(dir.join("svc.crt")),
    );
    assert!(verified.contains(": OK"), "{verified}");
    let mode = std::fs::metadata(dir.join("svc.key"))
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    // renew: a new serial for the same key, written over the file only with --force.
    let err = fails(&["ca", "renew", "svc.crt", "svc.key"], dir);
    assert!(err.contains("--force"), "{err}");
    ok(&["ca", "renew", "svc.crt", "svc.key", "--force"], dir);
    let renewed = pair(dir, "svc");
    assert_ne!(
        renewed.certificate().serial_decimal(),
        first.serial_decimal()
    );
    assert_eq!(
        mayfly_template::certificate_public_key(&renewed.certificate().certificate).unwrap(),
        mayfly_template::certificate_public_key(&first.certificate).unwrap()
    );

    // revoke over mTLS, then renewal of that certificate is refused with the CA's reason.
    let serial = renewed.certificate().serial_decimal();
    let args = [
        "ca", "revoke", &serial, "--cert", "svc.crt", "--key", "svc.key",
    ];
    ok(
        &[
            &args[..],
            &["--reason", "key rotated", "--reason-code", "4"],
        ]
        .concat(),
        dir,
    );
    let err = fails(&["ca", "renew", "svc.crt", "svc.key", "--force"], dir);
    assert!(err.contains("the CA refused POST /1.0/renew"), "{err}");
    assert!(err.contains("revoked"), "{err}");

    // revoke with a token minted from the provisioner; mTLS cannot revoke someone else's.
    let other = certificate(dir, "other", "1h");
    let other_serial = other.serial_decimal();
    let err = fails(
        &[
            "ca",
            "revoke",
            &other_serial,
            "--cert",
            "svc.crt",
            "--key",
            "svc.key",
        ],
        dir,
    );
    assert!(
        err.contains("can only revoke the certificate presented"),
        "{err}"
    );
    let token = ok(
        &[
            "ca",
            "token",
            &other_serial,
            "--revoke",
            "--provisioner",
            "ops",
            "--password-file",
            "ppw",
        ],
        dir,
    );
    ok(
        &["ca", "revoke", &other_serial, "--token", token.trim()],
        dir,
    );
    let err = fails(&["ca", "renew", "other.crt", "other.key", "--force"], dir);
    assert!(err.contains("revoked"), "{err}");

    // A token is good for one certificate only, and its SANs bind the request.
    let token = ok(
        &[
            "ca",
            "token",
            "t.example",
            "--san",
            "t.example",
            "--provisioner",
            "ops",
            "--password-file",
            "ppw",
        ],
        dir,
    );
    ok(
        &[
            "ca",
            "certificate",
            "t.example",
            "t.crt",
            "t.key",
            "--token",
            token.trim(),
        ],
        dir,
    );
    let err = fails(
        &[
            "ca",
            "certificate",
            "t.example",
            "t2.crt",
            "t2.key",
            "--token",
            token.trim(),
        ],
        dir,
    );
    assert!(err.contains("already been used"), "{err}");
    let err = fails(
        &[
            "ca",
            "token",
            "x",
            "--provisioner",
            "nobody",
            "--password-file",
            "ppw",
        ],
        dir,
    );
    assert!(err.contains("no JWK provisioner named \"nobody\""), "{err}");
    // A local copy of the encrypted provisioner key works as well as the CA's.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("ca/config/ca.json")).unwrap())
            .unwrap();
    let jwe = config["authority"]["provisioners"][0]["encryptedKey"]
        .as_str()
        .unwrap();
    write_file(dir, "ops.jwe", jwe);
    let local = [
        "--provisioner",
        "ops",
        "--provisioner-key",
        "ops.jwe",
        "--password-file",
        "ppw",
    ];
    let token = ok(&[&["ca", "token", "l.example"][..], &local].concat(), dir);
    ok(
        &[
            "ca",
            "certificate",
            "l.example",
            "l.crt",
            "l.key",
            "--token",
            token.trim(),
        ],
        dir,
    );
    write_file(dir, "wrong", "not the password\n");
    let err = fails(&["ca", "token", "x", "--password-file", "wrong"], dir);
    assert!(err.to_lowercase().contains("decrypt"), "{err}");
}

/// Starts `mayfly ca renew NAME.crt NAME.key --daemon ...` with its log in `NAME.log`.
fn daemon(dir: &Path, name: &str, extra: &[&str]) -> Child {
    daemon_command(dir, name, extra, &[]).spawn().unwrap()
}

/// The command [`daemon`] starts, run by `wrapper` (a command line such as `strace ...` that
/// takes the daemon's command line as its tail) unless that is empty.
fn daemon_command(dir: &Path, name: &str, extra: &[&str], wrapper: &[&OsStr]) -> Command {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let mayfly = OsStr::new(env!("CARGO_BIN_EXE_mayfly"));
    let (program, wrapper_args) = match wrapper {
        [program, args @ ..] => (*program, args),
        [] => (mayfly, &[][..]),
    };
    let mut command = Command::new(program);
    command.args(wrapper_args);
    if !wrapper.is_empty() {
        command.arg(mayfly);
    }
    command
        .args([
            "ca",
            "renew",
            &format!("{name}.crt"),
            &format!("{name}.key"),
            "--daemon",
        ])
        .args(["--max-retry-interval", "1"])
        .args(extra)
        .env("MAYFLY_PATH", dir.join("client"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    command
}

/// A child process killed and reaped when the test ends, failed assertions included.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `NAME.crt` holds a serial other than `than`, and returns it.
fn wait_for_new_serial(dir: &Path, name: &str, than: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let serial = pair(dir, name).certificate().serial_decimal();
        if serial != than {
            return serial;
        }
        let log = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
        assert!(
            Instant::now() < deadline,
            "no renewal within {within:?}; log:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn renew_daemon_survives_a_ca_restart() {
    let dir = temp_dir();
    let dir = dir.path();
    let mut ca = Ca::init(dir);
    bootstrap(&ca, dir);
    // 90 s certificates (backdated 1 min): renewed about every minute, which leaves the last
    // ~30 s of a certificate's life for the restarted CA to come back (a loaded machine can
    // take 10 s and more to start a debug build).
    let first = certificate(dir, "svc", "90s").serial_decimal();
    let mut child = daemon(dir, "svc", &["--exec", "echo renewed >> hook.log"]);
    let second = wait_for_new_serial(dir, "svc", &first, Duration::from_secs(60));

    ca.stop();
    let deadline = Instant::now() + Duration::from_secs(80);
    let log = dir.join("svc.log");
    while !std::fs::read_to_string(&log).unwrap().contains("retrying") {
        assert!(Instant::now() < deadline, "the daemon never retried");
        assert!(child.try_wait().unwrap().is_none(), "the daemon exited");
        std::thread::sleep(Duration::from_millis(200));
    }
    ca.start();
    let third = wait_for_new_serial(dir, "svc", &second, Duration::from_secs(30));
    assert_ne!(third, first);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the daemon keeps running"
    );
    let _ = child.kill();
    let _ = child.wait();
    let hooks = std::fs::read_to_string(dir.join("hook.log")).unwrap();
    assert!(
        hooks.lines().count() >= 2,
        "the hook ran after each renewal: {hooks:?}"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("cannot reach the CA"), "{text}");
}

/// The temporary files beside `target` that the atomic writer names `.NAME.tmp-RANDOM`.
fn temp_files(target: &Path) -> Vec<PathBuf> {
    let prefix = format!(".{}.tmp-", target.file_name().unwrap().to_str().unwrap());
    let mut found: Vec<PathBuf> = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|name| name.starts_with(&prefix))
        })
        .collect();
    found.sort();
    found
}

/// The opens and renames in an `strace -f -o` log: (syscall, paths resolved against `cwd`,
/// the whole line).
fn file_calls(trace: &str, cwd: &Path) -> Vec<(String, Vec<PathBuf>, String)> {
    trace
        .lines()
        .filter_map(|line| {
            // "PID name(args) = result", the PID padded to five columns ("812   rename(...",
            // "6335  rename(...", "23614 rename(..."): resumed halves, signals and exits have
            // no "name(".
            let (_pid, call) = line.split_once(' ')?;
            let (name, _) = call.trim_start().split_once('(')?;
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return None;
            }
            let paths = call
                .split('"')
                .skip(1)
                .step_by(2)
                .map(|p| cwd.join(p).components().collect())
                .collect();
            Some((name.to_owned(), paths, line.to_owned()))
        })
        .collect()
}

/// strace pads PIDs to five columns: a 4-digit PID (a young machine) is followed by two
/// spaces. Reading only 5-digit ones made the test below fail on fresh machines.
#[test]
fn strace_lines_parse_whatever_the_pid_width() {
    let cwd = Path::new("/w");
    for line in [
        "812   rename(\"a\", \"b\") = 0",
        "6335  rename(\"a\", \"b\") = 0",
        "23614 rename(\"a\", \"b\") = 0",
    ] {
        let calls = file_calls(line, cwd);
        assert_eq!(calls.len(), 1, "{line}");
        assert_eq!(calls[0].0, "rename");
        assert_eq!(calls[0].1, [cwd.join("a"), cwd.join("b")]);
    }
}

#[test]
fn renew_daemon_killed_mid_write_leaves_whole_files() {
    let Some(strace) = tool("strace") else {
        return;
    };
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init(dir);
    bootstrap(&ca, dir);
    // A 10 s certificate backdated 1 min is due at once: each daemon start renews.
    let first = certificate(dir, "svc", "10s").serial_decimal();
    let (crt, key) = (dir.join("svc.crt"), dir.join("svc.key"));

    // Under strace, which records every open and rename and kills the daemon (SIGKILL) at
    // its second rename: the second renewal is written out, then never moved into place.
    // `timeout` ends a daemon that never renames (a writer that is not atomic).
    let trace = dir.join("trace");
    let wrapper = [
        strace.as_os_str(),
        OsStr::new("-f"),
        OsStr::new("-qq"),
        OsStr::new("-s"),
        OsStr::new("4096"),
        OsStr::new("-o"),
        trace.as_os_str(),
        OsStr::new("-e"),
        OsStr::new("trace=/^(open|openat|openat2|creat|rename|renameat|renameat2)$"),
        OsStr::new("-e"),
        OsStr::new("inject=/^rename(at|at2)?$:error=EIO:signal=KILL:when=2"),
        OsStr::new("timeout"),
        OsStr::new("60"),
    ];
    let status = daemon_command(dir, "svc", &[], &wrapper).status().unwrap();
    let log = std::fs::read_to_string(dir.join("svc.log")).unwrap();
    assert!(!status.success(), "the daemon was not killed; log:\n{log}");
    let trace = std::fs::read_to_string(&trace).unwrap();
    let is_temp = |path: &Path| {
        let name = path.file_name().and_then(OsStr::to_str).unwrap_or("");
        path.parent() == crt.parent() && name.starts_with(".svc.crt.tmp-")
    };
    let mut temps = Vec::new();
    let mut renames = Vec::new();
    for (call, paths, line) in file_calls(&trace, dir) {
        match (call.as_str(), &paths[..]) {
            ("open" | "openat" | "openat2" | "creat", [path, ..]) => {
                let writes = call == "creat"
                    || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC"]
                        .iter()
                        .any(|flag| line.contains(flag));
                assert!(
                    !(writes && (*path == crt || *path == key)),
                    "opened for writing in place: {line}"
                );
                if writes && is_temp(path) {
                    assert!(line.contains("O_EXCL"), "{line}");
                    temps.push(path.clone());
                }
            }
            ("rename" | "renameat" | "renameat2", [from, to]) => {
                renames.push((from.clone(), to.clone(), line));
            }
            _ => {}
        }
    }
    assert_eq!(
        renames.len(),
        2,
        "a renewal renamed into place, and the next one killed at its rename: {renames:?}\nlog:\n{log}\ntrace:\n{trace}"
    );
    for (from, to, line) in &renames {
        assert_eq!(*to, crt, "{line}");
        assert!(
            temps.contains(from),
            "not renamed from a new temporary file beside it: {line}"
        );
    }
    // The first renewal is in place, whole and still a pair with the key; the second is
    // whole in its temporary file, which the kill left behind.
    let serial = pair(dir, "svc").certificate().serial_decimal();
    assert_ne!(serial, first);
    let left = temp_files(&crt);
    assert_eq!(left.len(), 1, "{left:?}");
    let unrenamed = SignedCertificate::from_file(&left[0]).unwrap();
    assert_ne!(unrenamed.serial_decimal(), serial);

    // Killed at other moments too, it leaves whole files.
    let mut serial = serial;
    let mut renewals = 0;
    for round in 0..16u64 {
        let mut child = daemon(dir, "svc", &[]);
        std::thread::sleep(Duration::from_millis(20 + (round * 53) % 400));
        child.kill().unwrap();
        child.wait().unwrap();
        // Whatever the moment of the kill, both files are whole and still a pair.
        let now = pair(dir, "svc").certificate().serial_decimal();
        if now != serial {
            renewals += 1;
            serial = now;
        }
    }
    assert!(renewals > 0, "no daemon got to renew before being killed");
    // The next write removes what killed writers left.
    ok(&["ca", "renew", "svc.crt", "svc.key", "--force"], dir);
    assert_eq!(temp_files(&crt), Vec::<PathBuf>::new());
    let serial = pair(dir, "svc").certificate().serial_decimal();

    // Once revoked, the daemon stops with the CA's reason instead of retrying forever.
    let args = [
        "ca", "revoke", &serial, "--cert", "svc.crt", "--key", "svc.key",
    ];
    ok(&args, dir);
    let status = daemon(dir, "svc", &[]).wait().unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(dir.join("svc.log")).unwrap();
    assert!(log.contains("revoked"), "{log}");
    assert!(!log.contains("retrying"), "{log}");
    drop(ca);
}

#[test]
fn renew_daemon_signals_a_pid_after_renewing() {
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init(dir);
    bootstrap(&ca, dir);
    let first = certificate(dir, "svc", "10s").serial_decimal();
    // A shell that, on SIGHUP, copies svc.crt as it is at that moment to hup.crt.
    let mut shell = KillOnDrop(
        Command::new("sh")
            .arg("-c")
            .arg(
                "trap 'cp svc.crt hup.tmp && mv hup.tmp hup.crt' HUP; touch ready; \
             while :; do sleep 0.1; done",
            )
            .current_dir(dir)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("ready").exists() {
        assert!(Instant::now() < deadline, "the shell did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = shell.0.id().to_string();
    let _daemon = KillOnDrop(daemon(dir, "svc", &["--pid", &pid, "--signal", "HUP"]));
    wait_for_new_serial(dir, "svc", &first, Duration::from_secs(60));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("hup.crt").exists() {
        let log = std::fs::read_to_string(dir.join("svc.log")).unwrap();
        assert!(
            Instant::now() < deadline,
            "no SIGHUP reached the shell; log:\n{log}"
        );
        assert!(shell.0.try_wait().unwrap().is_none(), "the shell died");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The signal came once the renewed certificate was in place.
    let at_hup = SignedCertificate::from_file(&dir.join("hup.crt")).unwrap();
    assert_ne!(at_hup.serial_decimal(), first);
    drop(ca);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_rekey_gives_a_certificate_for_the_new_key() {
    let dir = temp_dir();
    let dir = dir.path().to_path_buf();
    let ca = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            let ca = Ca::init(&dir);
            bootstrap(&ca, &dir);
            certificate(&dir, "svc", "1h");
            ca
        }
    })
    .await
    .unwrap();
    let client = mayfly_client::Client::bootstrap(&ca.url(), &ca.fingerprint())
        .await
        .unwrap();
    let old = pair(&dir, "svc");
    let new_key = mayfly_keys::PrivateKey::generate(KeyType::EcP384).unwrap();
    let sans = [mayfly_template::San::guess("svc")];
    let csr = mayfly_template::build_request("svc", &sans, &new_key).unwrap();
    let rekeyed = client.rekey(&old, &csr).await.unwrap();
    let identity = Identity::new(rekeyed, new_key).unwrap();
    assert_ne!(
        identity.certificate().serial_decimal(),
        old.certificate().serial_decimal()
    );
    // The new pair renews over mTLS in turn.
    let renewed = client.renew(&identity).await.unwrap();
    assert_eq!(
        mayfly_template::certificate_public_key(&renewed.certificate).unwrap(),
        *mayfly_keys::Signer::public_key(identity.key())
    );
    drop(ca);
}

#[test]
fn init_defaults_give_certificates_with_sans_and_key_types() {
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init(dir);
    // No bootstrap: MAYFLY_PATH is the CA's folder, with the defaults.json init wrote.
    let issue = |name: &str, extra: &[&str]| {
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        let args = [
            &["ca", "certificate", name, &crt, &key][..],
            extra,
            &["--provisioner", "ops", "--password-file", "ppw"],
        ]
        .concat();
        stdout_of_success(
            ("mayfly", &args),
            mayfly_with_path(&args, dir, &dir.join("ca")),
        );
        let identity = pair(dir, name);
        let cert = &identity.certificate().certificate;
        (
            mayfly_template::certificate_sans(cert).unwrap(),
            mayfly_template::certificate_public_key(cert)
                .unwrap()
                .key_type(),
        )
    };
    let (sans, kty) = issue(
        "svc.example",
        &[
            "--san",
            "svc.example",
            "--san",
            "www.svc.example",
            "--san",
            "10.0.0.7",
            "--kty",
            "RSA",
            "--size",
            "3072",
        ],
    );
    let expected = [
        San::Dns("svc.example".into()),
        San::Dns("www.svc.example".into()),
        San::Ip("10.0.0.7".parse().unwrap()),
    ];
    assert_eq!(sans.len(), expected.len(), "{sans:?}");
    assert!(expected.iter().all(|san| sans.contains(san)), "{sans:?}");
    assert_eq!(kty, KeyType::Rsa(3072));

    let (sans, kty) = issue("ed.example", &["--kty", "OKP"]);
    assert_eq!(sans, [San::Dns("ed.example".into())]);
    assert_eq!(kty, KeyType::Ed25519);
    assert!(!dir.join("client").exists(), "nothing was bootstrapped");
    drop(ca);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_fetches_the_encrypted_key_when_the_list_leaves_it_out() {
    let dir = temp_dir();
    let dir = dir.path().to_path_buf();
    let ca = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || Ca::init(&dir)
    })
    .await
    .unwrap();
    let client = mayfly_client::Client::bootstrap(&ca.url(), &ca.fingerprint())
        .await
        .unwrap();
    let listed = client.provisioners().await.unwrap();
    let ops = listed.iter().find(|p| p.name == "ops").unwrap();
    let kid = ops.kid().unwrap();
    assert_eq!(
        client.encrypted_key(kid).await.unwrap(),
        *ops.encrypted_key.as_ref().unwrap()
    );
    // As listed by a CA that leaves `encryptedKey` out: the key comes from the route.
    let bare = mayfly_client::Provisioner {
        encrypted_key: None,
        ..ops.clone()
    };
    let password = mayfly_keys::Password::from_file(&dir.join("ppw")).unwrap();
    let key = client
        .decrypt_provisioner_key(&bare, &password)
        .await
        .unwrap();
    assert_eq!(key.thumbprint().unwrap(), kid);
    let request = mayfly_client::TokenRequest::sign("fetched.example", vec![]);
    let token = client.mint_token("ops", &key, &request).unwrap();
    let new_key = mayfly_keys::PrivateKey::generate(KeyType::EcP256).unwrap();
    let csr = mayfly_template::build_request(
        "fetched.example",
        &[San::guess("fetched.example")],
        &new_key,
    )
    .unwrap();
    let signed = client
        .sign(&csr, &token, &mayfly_client::Validity::default())
        .await
        .unwrap();
    Identity::new(signed, new_key).unwrap();
    let keyless = mayfly_client::Provisioner { key: None, ..bare };
    let err = client
        .decrypt_provisioner_key(&keyless, &password)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ops has no key id"), "{err}");
    // An unknown key id is the CA's 404, with its message.
    let err = client
        .encrypted_key("no-such-kid")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("(404)") && err.contains("no-such-kid"),
        "{err}"
    );
    drop(ca);
}

/// The admin flags of the super admin `init --remote-management --admin-subject ops-admin`
/// created: tokens of provisioner `ops`.
const AS_SUPER_ADMIN: [&str; 6] = [
    "--admin-provisioner",
    "ops",
    "--admin-subject",
    "ops-admin",
    "--password-file",
    "ppw",
];

fn admin_ok(args: &[&str], dir: &Path) -> String {
    ok(&[args, &AS_SUPER_ADMIN[..]].concat(), dir)
}

fn admin_fails(args: &[&str], dir: &Path) -> String {
    fails(&[args, &AS_SUPER_ADMIN[..]].concat(), dir)
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn remote_management_provisioners_and_admins_through_the_cli() {
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init_with(
        dir,
        &["--remote-management", "--admin-subject", "ops-admin"],
    );
    bootstrap(&ca, dir);

    // A JWK provisioner added remotely signs at once; its claims update; removal stops it.
    write_file(dir, "dpw", "deploy password\n");
    let added = json(&admin_ok(
        &[
            "ca",
            "provisioner",
            "add",
            "deploy",
            "--provisioner-password-file",
            "dpw",
            "--x509-max-dur",
            "2h",
            "--x509-default-dur",
            "1h",
        ],
        dir,
    ));
    assert_eq!(added["type"], "JWK");
    assert_eq!(added["claims"]["maxTLSCertDuration"], "2h");
    let deploy = |name: &str, not_after: &str| {
        mayfly(
            &[
                "ca",
                "certificate",
                name,
                &format!("{name}.crt"),
                &format!("{name}.key"),
                "--provisioner",
                "deploy",
                "--password-file",
                "dpw",
                "--not-after",
                not_after,
            ],
            dir,
        )
    };
    assert!(deploy("d1", "90m").status.success());
    let updated = json(&admin_ok(
        &[
            "ca",
            "provisioner",
            "update",
            "deploy",
            "--x509-max-dur",
            "1h",
            "--x509-default-dur",
            "30m",
        ],
        dir,
    ));
    assert_eq!(updated["claims"]["maxTLSCertDuration"], "1h");
    let refused = deploy("d2", "90m");
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && err.contains("longer than the provisioner's maximum"),
        "{err}"
    );
    // Bad input is refused by the CA with the field named.
    write_file(
        dir,
        "bad.json",
        r#"{"type": "JWK", "key": {"kty": "EC"}, "claimz": {}}"#,
    );
    let err = admin_fails(
        &["ca", "provisioner", "add", "bad", "--from", "bad.json"],
        dir,
    );
    assert!(err.contains("(400)") && err.contains("claimz"), "{err}");
    admin_ok(&["ca", "provisioner", "remove", "deploy"], dir);
    let err = String::from_utf8_lossy(&deploy("d3", "10m").stderr).into_owned();
    assert!(err.contains("deploy"), "{err}");

    // Admins: an admin certificate works like the token; an ADMIN cannot add admins.
    certificate(dir, "ops-admin", "1h");
    let admins = json(&ok(
        &[
            "ca",
            "admin",
            "list",
            "--admin-cert",
            "ops-admin.crt",
            "--admin-key",
            "ops-admin.key",
        ],
        dir,
    ));
    assert_eq!(admins["admins"][0]["subject"], "ops-admin");
    assert_eq!(admins["admins"][0]["type"], "SUPER_ADMIN");
    let alice = json(&admin_ok(&["ca", "admin", "add", "alice", "ops"], dir));
    assert_eq!(alice["type"], "ADMIN");
    certificate(dir, "alice", "1h");
    let as_alice = ["--admin-cert", "alice.crt", "--admin-key", "alice.key"];
    let err = fails(
        &[&["ca", "admin", "add", "bob", "ops"][..], &as_alice].concat(),
        dir,
    );
    assert!(
        err.contains("(403)") && err.contains("SUPER_ADMIN"),
        "{err}"
    );
    // Not an admin at all.
    certificate(dir, "mallory", "1h");
    let err = fails(
        &[
            "ca",
            "provisioner",
            "remove",
            "ops",
            "--admin-cert",
            "mallory.crt",
            "--admin-key",
            "mallory.key",
        ],
        dir,
    );
    assert!(err.contains("(403)"), "{err}");
    let err = admin_fails(&["ca", "admin", "remove", "ops-admin"], dir);
    assert!(err.contains("last super admin"), "{err}");
    admin_ok(&["ca", "admin", "remove", "alice"], dir);
    let err = fails(&[&["ca", "admin", "list"][..], &as_alice].concat(), dir);
    assert!(err.contains("(403)"), "{err}");
    // Without credentials the CLI says how to authenticate.
    let err = fails(&["ca", "admin", "list"], dir);
    assert!(err.contains("--admin-cert"), "{err}");
    drop(ca);
}

#[test]
fn an_eab_key_from_the_cli_lets_lego_register_on_a_require_eab_provisioner() {
    let Some(lego) = tool("lego") else {
        return;
    };
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init_with(
        dir,
        &["--remote-management", "--admin-subject", "ops-admin"],
    );
    bootstrap(&ca, dir);
    let http_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    write_file(
        dir,
        "acme.json",
        format!(
            r#"{{"type": "ACME", "requireEAB": true, "validation": {{"httpPort": {http_port}}}}}"#
        ),
    );
    let added = json(&admin_ok(
        &["ca", "provisioner", "add", "acme", "--from", "acme.json"],
        dir,
    ));
    assert_eq!(added["requireEAB"], true);

    let lego_run = |path: &str, eab: &[&str]| {
        let mut command = Command::new(&lego);
        command
            .env("LEGO_CA_CERTIFICATES", dir.join("ca/certs/root_ca.crt"))
            .args(["--server", &format!("{}/acme/acme/directory", ca.url())])
            .args(["--accept-tos", "--email", "eab@example.test", "--path"])
            .arg(dir.join(path))
            .args(eab)
            .args([
                "--domains",
                "localhost",
                "--http",
                "--http.port",
                &format!("127.0.0.1:{http_port}"),
                "run",
            ]);
        mayfly_testkit::run(&mut command)
    };
    let (registered, out) = lego_run("lego-no-eab", &[]);
    assert!(
        !registered && out.contains("External Account Binding"),
        "{out}"
    );

    let key = json(&admin_ok(&["ca", "acme", "eab", "add", "acme"], dir));
    let (kid, hmac) = (
        key["id"].as_str().unwrap(),
        key["hmacKey"].as_str().unwrap(),
    );
    let (issued, out) = lego_run("lego", &["--eab", "--kid", kid, "--hmac", hmac]);
    assert!(issued, "{out}");
    assert!(
        dir.join("lego/certificates/localhost.crt").exists(),
        "{out}"
    );
    let listed = json(&admin_ok(&["ca", "acme", "eab", "list", "acme"], dir));
    assert_eq!(listed["eaks"][0]["id"], kid);
    assert_ne!(
        listed["eaks"][0]["account"], "",
        "the key is bound to lego's account"
    );
    admin_ok(&["ca", "acme", "eab", "remove", "acme", kid], dir);
    let listed = json(&admin_ok(&["ca", "acme", "eab", "list", "acme"], dir));
    assert_eq!(listed["eaks"], serde_json::json!([]));
    drop(ca);
}

#[test]
fn local_eab_keys_for_a_ca_without_remote_management() {
    let dir = temp_dir();
    let dir = dir.path();
    let ca = Ca::init(dir);
    let bin = ca.bin.clone();
    let config = dir.join("ca/config/ca.json");
    let mayfly_ca = |args: &[&str]| {
        let out = Command::new(&bin)
            .args(args)
            .arg("--ca-config")
            .arg(&config)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (done, _, err) = mayfly_ca(&["acme", "eab", "add", "acme"]);
    assert!(
        !done && err.contains("no ACME provisioner named \"acme\""),
        "{err}"
    );
    let (done, _, err) = mayfly_ca(&["provisioner", "add", "acme", "--type", "acme"]);
    assert!(done, "{err}");
    let (done, out, err) = mayfly_ca(&["acme", "eab", "add", "acme"]);
    assert!(done, "{err}");
    let key = json(&out);
    let kid = key["id"].as_str().unwrap().to_owned();
    assert!(key["hmacKey"].as_str().unwrap().len() >= 43);
    let (_, out, _) = mayfly_ca(&["acme", "eab", "list", "acme"]);
    assert_eq!(json(&out)["eaks"][0]["id"], kid.as_str());
    let (done, _, err) = mayfly_ca(&["acme", "eab", "remove", "acme", &kid]);
    assert!(done, "{err}");
    let (done, _, err) = mayfly_ca(&["acme", "eab", "remove", "acme", &kid]);
    assert!(!done && err.contains("no EAB key"), "{err}");
    drop(ca);
}
