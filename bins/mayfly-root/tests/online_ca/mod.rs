//! The online half of the two-tier flow, for `offline_flow.rs`: a real `mayfly-ca` (built
//! on demand next to `mayfly-root`, with the `mayfly` client) initialised with `--csr`,
//! completed with the intermediate the offline root signed, serving on a free port, issuing
//! a leaf to `mayfly ca certificate` and serving its own CRL.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mayfly_testkit::{run_ok, write_file};

/// `mayfly-ca` and `mayfly`, built into this test's target directory (cargo builds only
/// this package's binaries for its tests).
fn binaries() -> (PathBuf, PathBuf) {
    let root = PathBuf::from(env!("CARGO_BIN_EXE_mayfly-root"));
    let bin_dir = root
        .parent()
        .unwrap_or_else(|| panic!("{} has no folder", root.display()));
    let target = bin_dir
        .parent()
        .unwrap_or_else(|| panic!("{} has no parent", bin_dir.display()));
    let mut build = Command::new(env!("CARGO"));
    build
        .args(["build", "--quiet", "-p", "mayfly-ca", "-p", "mayfly"])
        .args(["--bin", "mayfly-ca", "--bin", "mayfly", "--target-dir"])
        .arg(target);
    if bin_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    run_ok(&mut build);
    let (ca, client) = (bin_dir.join("mayfly-ca"), bin_dir.join("mayfly"));
    assert!(
        ca.exists() && client.exists(),
        "mayfly-ca or mayfly was not built"
    );
    (ca, client)
}

/// The online CA host: its PKI in `dir/ca`, the client's state in `dir/client`, passwords in
/// `dir/ca-pass.txt` and `dir/prov-pass.txt`; every command runs in `dir`.
pub struct OnlineCa {
    dir: PathBuf,
    ca: PathBuf,
    client: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl OnlineCa {
    /// Builds the binaries, picks a free port and writes the two password files (mode 0600).
    pub fn new(dir: &Path) -> Self {
        let (ca, client) = binaries();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("no free port: {e}"))
            .port();
        for (name, text) in [
            ("ca-pass.txt", "online ca password\n"),
            ("prov-pass.txt", "provisioner password\n"),
        ] {
            let path = write_file(dir, name, text);
            let perms = std::os::unix::fs::PermissionsExt::from_mode(0o600);
            std::fs::set_permissions(path, perms).unwrap_or_else(|e| panic!("{e}"));
        }
        Self {
            dir: dir.to_owned(),
            ca,
            client,
            port,
            child: None,
        }
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `mayfly-ca init ... EXTRA`, as docs/offline-root.md writes it; returns its output.
    fn init(&self, extra: &[&str]) -> String {
        let address = format!("127.0.0.1:{}", self.port);
        let common = [
            "init",
            "--path",
            "ca",
            "--name",
            "Mayfly",
            "--dns",
            "127.0.0.1",
            "--address",
            &address,
            "--provisioner",
            "ops",
            "--password-file",
            "ca-pass.txt",
            "--provisioner-password-file",
            "prov-pass.txt",
            "--root",
            "root_ca.crt",
        ];
        run_ok(
            Command::new(&self.ca)
                .current_dir(&self.dir)
                .args(common)
                .args(extra)
                .stdin(Stdio::null()),
        )
    }

    /// `mayfly-ca init ... --csr`, then the CSR carried to the offline host as
    /// `intermediate_ca.csr`. Nothing but the key and the CSR is written.
    pub fn init_csr(&self) {
        self.init(&["--csr"]);
        assert!(!self.dir.join("ca/config/ca.json").exists());
        std::fs::copy(
            self.dir.join("ca/certs/intermediate_ca.csr"),
            self.dir.join("intermediate_ca.csr"),
        )
        .unwrap_or_else(|e| panic!("carrying the CSR: {e}"));
    }

    /// `mayfly-ca init ... --intermediate intermediate_ca.crt`; returns the root fingerprint
    /// it prints.
    pub fn install(&self) -> String {
        let out = self.init(&["--intermediate", "intermediate_ca.crt"]);
        out.lines()
            .find_map(|l| l.strip_prefix("Root fingerprint: "))
            .unwrap_or_else(|| panic!("no root fingerprint in {out}"))
            .trim()
            .to_owned()
    }

    /// `mayfly-ca serve ca/config/ca.json --password-file ca-pass.txt`, until it listens.
    pub fn serve(&mut self) {
        let log = std::fs::File::create(self.dir.join("ca.log")).unwrap_or_else(|e| panic!("{e}"));
        let err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let child = Command::new(&self.ca)
            .current_dir(&self.dir)
            .args([
                "serve",
                "ca/config/ca.json",
                "--password-file",
                "ca-pass.txt",
            ])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("mayfly-ca serve: {e}"));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let log = std::fs::read_to_string(self.dir.join("ca.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "mayfly-ca serve did not start: {log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `mayfly ARGS` with its state in `dir/client`; returns standard output.
    pub fn mayfly(&self, args: &[&str]) -> String {
        run_ok(
            Command::new(&self.client)
                .current_dir(&self.dir)
                .env("MAYFLY_PATH", self.dir.join("client"))
                .args(args)
                .stdin(Stdio::null()),
        )
    }

    /// The CA's own CRL (DER) from `GET /crl`, fetched by curl trusting only the root.
    pub fn fetch_crl(&self, curl: &Path, out: &str) {
        run_ok(
            Command::new(curl)
                .current_dir(&self.dir)
                .args([
                    "--fail",
                    "--silent",
                    "--show-error",
                    "--cacert",
                    "root_ca.crt",
                ])
                .args(["--output", out])
                .arg(format!("{}/crl", self.url())),
        );
    }
}

impl Drop for OnlineCa {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
