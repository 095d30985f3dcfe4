//! Real ACME clients (lego, certbot, acme-tiny, dehydrated, uacme; `../shared/INTEROP.md`
//! §1-3) against the service behind a test HTTPS front. Each certificate's chain is checked
//! with `openssl verify`. The validation ports are the ones the clients listen on (lego,
//! certbot standalone) or the in-test webroot server (the others); every name resolves to
//! 127.0.0.1 through the in-test DNS server, which also serves the TXT records the clients'
//! hooks write.

#![allow(clippy::unwrap_used, reason = "test assertions")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Ca, Db};

struct Env {
    ca: Ca,
    port: u16,
    root: PathBuf,
    http_port: u16,
    tls_port: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Env {
    async fn new() -> Self {
        let (http_port, tls_port) = (free_port(), free_port());
        let ca = Ca::with_ports(Db::Sqlite, Some((http_port, tls_port))).await;
        let port = common::https::serve(&ca).await;
        let root = mayfly_testkit::write_file(
            ca.dir.path(),
            "root.pem",
            mayfly_template::certificate_to_pem(&ca.root).unwrap(),
        );
        Self {
            ca,
            port,
            root,
            http_port,
            tls_port,
        }
    }

    fn directory(&self, provisioner: &str) -> String {
        format!(
            "https://localhost:{}/acme/{provisioner}/directory",
            self.port
        )
    }

    fn dir(&self, name: &str) -> PathBuf {
        let path = self.ca.path(name);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// A hook script in the CA's temp dir.
    fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = mayfly_testkit::write_file(
            self.ca.dir.path(),
            name,
            format!("#!/bin/sh\nset -e\n{body}\n"),
        );
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        path
    }

    fn dns_server(&self) -> String {
        self.ca.responders.dns_addr.unwrap().to_string()
    }

    /// `openssl verify` of a PEM bundle (leaf first) against the test root; returns the
    /// leaf's text.
    fn verify(&self, bundle: &Path) -> String {
        let openssl = mayfly_testkit::tool("openssl").unwrap();
        let pem =
            std::fs::read_to_string(bundle).unwrap_or_else(|e| panic!("{}: {e}", bundle.display()));
        let certs: Vec<&str> = pem
            .split_inclusive("-----END CERTIFICATE-----\n")
            .filter(|c| c.contains("BEGIN"))
            .collect();
        assert!(
            certs.len() >= 2,
            "{} lacks the chain:\n{pem}",
            bundle.display()
        );
        let leaf = mayfly_testkit::write_file(self.ca.dir.path(), "leaf-check.pem", certs[0]);
        let chain =
            mayfly_testkit::write_file(self.ca.dir.path(), "chain-check.pem", certs[1..].concat());
        let out = mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["verify", "-purpose", "sslserver", "-CAfile"])
                .arg(&self.root)
                .arg("-untrusted")
                .arg(&chain)
                .arg(&leaf),
        );
        assert!(out.contains(": OK"), "{out}");
        mayfly_testkit::run_ok(
            Command::new(&openssl)
                .args(["x509", "-noout", "-text", "-in"])
                .arg(&leaf),
        )
    }

    async fn revoked_count(&self) -> usize {
        let crl = self.ca.authority.crl().await.unwrap();
        let path = mayfly_testkit::write_file(self.ca.dir.path(), "crl.der", crl);
        let text = mayfly_testkit::run_ok(
            Command::new(mayfly_testkit::tool("openssl").unwrap())
                .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
                .arg(path),
        );
        text.matches("Serial Number").count()
    }
}

/// Runs a blocking command off the runtime (the server runs on it); returns (ok, output).
async fn run(mut command: Command) -> (bool, String) {
    tokio::task::spawn_blocking(move || mayfly_testkit::run(&mut command))
        .await
        .unwrap()
}

async fn run_ok(command: Command) -> String {
    let text = format!("{command:?}");
    let (ok, out) = run(command).await;
    assert!(ok, "{text} failed:\n{out}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lego_http01_tls_alpn01_dns01_renew_revoke_and_eab() {
    let Some(lego) = mayfly_testkit::tool("lego") else {
        return;
    };
    let env = Env::new().await;
    let path = env.dir("lego");
    let lego_cmd = |provisioner: &str, args: &[&str]| {
        let mut c = Command::new(&lego);
        c.env("LEGO_CA_CERTIFICATES", &env.root)
            .args([
                "--server",
                &env.directory(provisioner),
                "--accept-tos",
                "--email",
                "ops@example.test",
                "--path",
            ])
            .arg(&path)
            .args(args);
        c
    };
    let http = format!(":{}", env.http_port);
    let tls = format!(":{}", env.tls_port);
    run_ok(lego_cmd(
        "acme",
        &[
            "--domains",
            "app.localhost",
            "--domains",
            "www.app.localhost",
            "--http",
            "--http.port",
            &http,
            "run",
        ],
    ))
    .await;
    let text = env.verify(&path.join("certificates/app.localhost.crt"));
    assert!(text.contains("DNS:www.app.localhost"), "{text}");
    let before = std::fs::read(path.join("certificates/app.localhost.crt")).unwrap();
    run_ok(lego_cmd(
        "acme",
        &[
            "--domains",
            "app.localhost",
            "--domains",
            "www.app.localhost",
            "--http",
            "--http.port",
            &http,
            "renew",
            "--days",
            "9999",
            "--no-random-sleep",
        ],
    ))
    .await;
    assert_ne!(
        std::fs::read(path.join("certificates/app.localhost.crt")).unwrap(),
        before,
        "renew replaced the certificate"
    );
    env.verify(&path.join("certificates/app.localhost.crt"));

    run_ok(lego_cmd(
        "acme",
        &[
            "--key-type",
            "ec384",
            "--domains",
            "tls.localhost",
            "--tls",
            "--tls.port",
            &tls,
            "run",
        ],
    ))
    .await;
    env.verify(&path.join("certificates/tls.localhost.crt"));
    run_ok(lego_cmd(
        "acme",
        &["--domains", "tls.localhost", "revoke", "--reason", "1"],
    ))
    .await;
    assert_eq!(env.revoked_count().await, 1);

    let txt = env.ca.responders.txt_dir.display().to_string();
    let hook = env.script("lego-exec.sh", &format!("name=$(echo \"$2\" | sed 's/\\.$//')\ncase \"$1\" in present) echo \"$3\" >> {txt}/$name;; cleanup) rm -f {txt}/$name;; esac"));
    let mut dns = lego_cmd(
        "acme",
        &[
            "--domains",
            "*.wild.localhost",
            "--dns",
            "exec",
            "--dns.resolvers",
            &env.dns_server(),
            "--dns.disable-cp",
            "run",
        ],
    );
    dns.env("EXEC_PATH", &hook)
        .env("EXEC_PROPAGATION_TIMEOUT", "30")
        .env("EXEC_POLLING_INTERVAL", "1");
    run_ok(dns).await;
    let text = env.verify(&path.join("certificates/_.wild.localhost.crt"));
    assert!(text.contains("DNS:*.wild.localhost"), "{text}");

    // EAB: refused without, accepted with a key from the service.
    let eab_path = env.dir("lego-eab");
    let eab_cmd = |args: &[&str]| {
        let mut c = Command::new(&lego);
        c.env("LEGO_CA_CERTIFICATES", &env.root)
            .args([
                "--server",
                &env.directory("eab"),
                "--accept-tos",
                "--email",
                "eab@example.test",
                "--path",
            ])
            .arg(&eab_path)
            .args(args);
        c
    };
    // lego reads `meta.externalAccountRequired` from the directory and stops by itself.
    let (ok, out) = run(eab_cmd(&[
        "--domains",
        "eab.localhost",
        "--http",
        "--http.port",
        &http,
        "run",
    ]))
    .await;
    assert!(
        !ok && out.contains("Server requires External Account Binding"),
        "{out}"
    );
    let (kid, hmac) = env.ca.service.create_eab_key("eab").await.unwrap();
    run_ok(eab_cmd(&[
        "--eab",
        "--kid",
        &kid,
        "--hmac",
        &hmac,
        "--domains",
        "eab.localhost",
        "--http",
        "--http.port",
        &http,
        "run",
    ]))
    .await;
    env.verify(&eab_path.join("certificates/eab.localhost.crt"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certbot_standalone_renew_revoke_dns01_wildcard_and_eab() {
    let Some(certbot) = mayfly_testkit::venv_tool("certbot") else {
        return;
    };
    let env = Env::new().await;
    let base = env.dir("certbot");
    let certbot_cmd = |provisioner: &str, dir: &Path, args: &[&str]| {
        let mut c = Command::new(&certbot);
        c.env("REQUESTS_CA_BUNDLE", &env.root)
            .arg(args[0])
            .args([
                "--non-interactive",
                "--server",
                &env.directory(provisioner),
                "--config-dir",
            ])
            .arg(dir.join("config"))
            .arg("--work-dir")
            .arg(dir.join("work"))
            .arg("--logs-dir")
            .arg(dir.join("logs"))
            .args(&args[1..]);
        c
    };
    let http = env.http_port.to_string();
    let standalone = [
        "--standalone",
        "--http-01-port",
        &http,
        "--http-01-address",
        "127.0.0.1",
        "--agree-tos",
        "--register-unsafely-without-email",
    ];
    let mut args = vec!["certonly"];
    args.extend(standalone);
    args.extend(["-d", "app.localhost", "--ip-address", "127.0.0.1"]);
    run_ok(certbot_cmd("acme", &base, &args)).await;
    let live = base.join("config/live/app.localhost");
    let text = env.verify(&live.join("fullchain.pem"));
    assert!(
        text.contains("IP Address:127.0.0.1")
            && !text.contains("CN=127.0.0.1")
            && !text.contains("CN = 127.0.0.1"),
        "{text}"
    );
    let before = std::fs::read(live.join("cert.pem")).unwrap();
    run_ok(certbot_cmd(
        "acme",
        &base,
        &[
            "renew",
            // certbot sleeps up to 8 minutes before a non-interactive renewal otherwise.
            "--no-random-sleep-on-renew",
            "--force-renewal",
            "--cert-name",
            "app.localhost",
            "--standalone",
            "--http-01-port",
            &http,
            "--http-01-address",
            "127.0.0.1",
        ],
    ))
    .await;
    assert_ne!(
        std::fs::read(live.join("cert.pem")).unwrap(),
        before,
        "renew replaced the certificate"
    );
    env.verify(&live.join("fullchain.pem"));
    run_ok(certbot_cmd(
        "acme",
        &base,
        &[
            "revoke",
            "--cert-name",
            "app.localhost",
            "--reason",
            "keycompromise",
            "--no-delete-after-revoke",
        ],
    ))
    .await;
    assert_eq!(env.revoked_count().await, 1);

    let txt = env.ca.responders.txt_dir.display().to_string();
    let auth = env.script(
        "certbot-auth.sh",
        &format!("echo \"$CERTBOT_VALIDATION\" >> {txt}/_acme-challenge.$CERTBOT_DOMAIN"),
    );
    let cleanup = env.script(
        "certbot-cleanup.sh",
        &format!("rm -f {txt}/_acme-challenge.$CERTBOT_DOMAIN"),
    );
    let (auth, cleanup) = (auth.display().to_string(), cleanup.display().to_string());
    run_ok(certbot_cmd(
        "acme",
        &base,
        &[
            "certonly",
            "--manual",
            "--preferred-challenges",
            "dns",
            "--manual-auth-hook",
            &auth,
            "--manual-cleanup-hook",
            &cleanup,
            "--agree-tos",
            "--register-unsafely-without-email",
            "--cert-name",
            "wild",
            "-d",
            "*.wild.localhost",
            "-d",
            "wild.localhost",
        ],
    ))
    .await;
    let text = env.verify(&base.join("config/live/wild/fullchain.pem"));
    assert!(text.contains("DNS:*.wild.localhost"), "{text}");

    let eab_dir = env.dir("certbot-eab");
    let mut args = vec!["certonly"];
    args.extend(standalone);
    args.extend(["-d", "eab.localhost"]);
    let (ok, out) = run(certbot_cmd("eab", &eab_dir, &args)).await;
    assert!(
        !ok && out.to_lowercase().contains("external account"),
        "{out}"
    );
    let (kid, hmac) = env.ca.service.create_eab_key("eab").await.unwrap();
    args.extend(["--eab-kid", &kid, "--eab-hmac-key", &hmac]);
    run_ok(certbot_cmd("eab", &eab_dir, &args)).await;
    env.verify(&eab_dir.join("config/live/eab.localhost/fullchain.pem"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acme_tiny_dehydrated_and_uacme_with_a_webroot() {
    let Some(openssl) = mayfly_testkit::tool("openssl") else {
        return;
    };
    let env = Env::new().await;
    env.ca.responders.listen_http(env.http_port).await;
    let challenge_dir = env.ca.responders.webroot.join(".well-known/acme-challenge");

    if let Some(acme_tiny) = mayfly_testkit::tool("acme-tiny") {
        let dir = env.dir("acme-tiny");
        run_ok({
            let mut c = Command::new(&openssl);
            c.args(["genrsa", "-out"])
                .arg(dir.join("account.key"))
                .arg("2048");
            c
        })
        .await;
        run_ok({
            let mut c = Command::new(&openssl);
            c.args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=tiny.localhost",
                "-addext",
                "subjectAltName=DNS:tiny.localhost",
                "-keyout",
            ])
            .arg(dir.join("domain.key"))
            .arg("-out")
            .arg(dir.join("domain.csr"));
            c
        })
        .await;
        let mut c = Command::new(&acme_tiny);
        c.env("SSL_CERT_FILE", &env.root)
            .arg("--account-key")
            .arg(dir.join("account.key"))
            .arg("--csr")
            .arg(dir.join("domain.csr"))
            .arg("--acme-dir")
            .arg(&challenge_dir)
            .args(["--directory-url", &env.directory("acme"), "--disable-check"]);
        let out = tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let chain = mayfly_testkit::write_file(&dir, "chain.pem", &out.stdout);
        env.verify(&chain);
    }

    if let Some(dehydrated) = mayfly_testkit::tool("dehydrated") {
        let dir = env.dir("dehydrated");
        let config = mayfly_testkit::write_file(
            &dir,
            "config",
            format!(
                "CA=\"{}\"\nBASEDIR=\"{}\"\nWELLKNOWN=\"{}\"\nCHALLENGETYPE=\"http-01\"\nKEY_ALGO=prime256v1\n",
                env.directory("acme"),
                dir.display(),
                challenge_dir.display()
            ),
        );
        mayfly_testkit::write_file(&dir, "domains.txt", "dehydrated.localhost\n");
        for args in [&["--register", "--accept-terms"][..], &["-c"][..]] {
            let mut c = Command::new(&dehydrated);
            c.env("CURL_CA_BUNDLE", &env.root)
                .arg("-f")
                .arg(&config)
                .args(args);
            run_ok(c).await;
        }
        env.verify(&dir.join("certs/dehydrated.localhost/fullchain.pem"));
    }

    if let (Some(uacme), Some(unshare)) = (
        mayfly_testkit::tool("uacme"),
        mayfly_testkit::tool("unshare"),
    ) {
        // uacme trusts only the system bundle: bind-mount ours over it in a private mount
        // namespace.
        let dir = env.dir("uacme");
        let url = env.directory("acme");
        let script = format!(
            "mount --bind {root} /etc/ssl/certs/ca-certificates.crt && {uacme} -v -y -a {url} -c {dir} new && \
             UACME_CHALLENGE_PATH={chall} {uacme} -v -y -a {url} -c {dir} -h /usr/share/uacme/uacme.sh issue uacme.localhost",
            uacme = uacme.display(),
            root = env.root.display(),
            dir = dir.display(),
            chall = challenge_dir.display()
        );
        let mut c = Command::new(unshare);
        c.args(["-m", "sh", "-c", &script]);
        run_ok(c).await;
        env.verify(&dir.join("uacme.localhost/cert.pem"));
    }
}
