//! The `init` command line: flags, prompts on a terminal, and the summary it prints.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Args;
use mayfly_keys::KeyType;

use crate::files::default_mayfly_path;
use crate::init::{DEFAULT_ADDRESS, ExistingRoot, InitOptions, InitOutcome, init};

/// `mayfly-ca init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// Where the PKI goes [default: $MAYFLY_PATH, else ~/.mayfly].
    #[arg(long, value_name = "DIR")]
    pub path: Option<PathBuf>,
    /// The PKI's name ("NAME Root CA", "NAME Intermediate CA").
    #[arg(long)]
    pub name: Option<String>,
    /// A DNS name or IP address of the CA (repeatable, or comma-separated).
    #[arg(long = "dns", value_name = "NAME", value_delimiter = ',')]
    pub dns_names: Vec<String>,
    /// The address the CA listens on [default: 127.0.0.1:9000].
    #[arg(long)]
    pub address: Option<String>,
    /// The name of the first JWK provisioner (e.g. an e-mail address).
    #[arg(long)]
    pub provisioner: Option<String>,
    /// CA key type: EC or RSA.
    #[arg(long, default_value = "EC")]
    pub kty: String,
    /// Curve for EC keys: P-256 or P-384 [default: P-256].
    #[arg(long)]
    pub crv: Option<String>,
    /// Modulus size for RSA keys: 2048, 3072 or 4096 [default: 2048].
    #[arg(long)]
    pub size: Option<usize>,
    /// The file holding the CA password [default: generated into secrets/password.txt].
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// The file holding the first provisioner's password [default: generated into
    /// secrets/provisioner_password.txt]. It must differ from the CA password.
    #[arg(long, value_name = "FILE")]
    pub provisioner_password_file: Option<PathBuf>,
    /// Use this existing root certificate instead of creating one.
    #[arg(long, value_name = "CRT", conflicts_with = "root_kms")]
    pub root: Option<PathBuf>,
    /// The existing root's key (omit it with --csr when the root stays offline).
    #[arg(long, value_name = "KEY", requires = "root")]
    pub key: Option<PathBuf>,
    /// The password file of --key [default: the CA password].
    #[arg(long, value_name = "FILE", requires = "key")]
    pub key_password_file: Option<PathBuf>,
    /// The root key in an HSM: `pkcs11:token=..;object=..?module-path=..&pin-source=file:..`
    /// (generated there when absent).
    #[arg(long, value_name = "URI")]
    pub root_kms: Option<String>,
    /// The intermediate key in an HSM (a `pkcs11:` URI; generated there when absent).
    #[arg(long, value_name = "URI")]
    pub intermediate_kms: Option<String>,
    /// Write the intermediate key and a CSR (certs/intermediate_ca.csr) for an offline root
    /// to sign, and stop.
    #[arg(long)]
    pub csr: bool,
    /// Complete a --csr run: the intermediate certificate the offline root signed (with
    /// --root; the key is secrets/intermediate_ca_key or --intermediate-kms).
    #[arg(long, value_name = "CRT", requires = "root", conflicts_with = "csr")]
    pub intermediate: Option<PathBuf>,
    /// Replace a PKI that already exists in the folder.
    #[arg(long)]
    pub force: bool,
    /// Keep provisioners and admins in the database (`authority.enableAdmin`) and create
    /// the first super admin, managed with `mayfly ca provisioner|admin|acme eab`.
    #[arg(long, conflicts_with = "csr")]
    pub remote_management: bool,
    /// The first super admin's subject (with --remote-management).
    #[arg(long, value_name = "SUBJECT", default_value = mayfly_authority::DEFAULT_ADMIN_SUBJECT, requires = "remote_management")]
    pub admin_subject: String,
}

/// Runs `mayfly-ca init`: prompts for missing answers on a terminal, then prints what it did.
pub fn run(args: InitArgs) -> anyhow::Result<()> {
    let interactive = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    let options = options(args, interactive)?;
    let outcome = init(&options)?;
    print_outcome(&options, &outcome);
    Ok(())
}

fn options(args: InitArgs, interactive: bool) -> anyhow::Result<InitOptions> {
    let ask = |flag: &str, question: &str, default: Option<&str>| -> anyhow::Result<String> {
        if !interactive {
            return match default {
                Some(d) => Ok(d.to_owned()),
                None => bail!("--{flag} is required when not running on a terminal"),
            };
        }
        prompt(question, default)
    };
    let name = match args.name {
        Some(n) => n,
        None => ask("name", "What would you like to name your new PKI?", None)?,
    };
    let dns_names = if args.dns_names.is_empty() {
        ask(
            "dns",
            "What DNS names or IP addresses will clients use to reach the CA? (comma-separated)",
            None,
        )?
        .split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
    } else {
        args.dns_names
    };
    let address = match args.address {
        Some(a) => a,
        None => ask(
            "address",
            "What IP and port will the CA bind to?",
            Some(DEFAULT_ADDRESS),
        )?,
    };
    let provisioner = match args.provisioner {
        Some(p) => p,
        None => ask(
            "provisioner",
            "What would you like to name the CA's first provisioner?",
            None,
        )?,
    };
    let key_type = KeyType::from_step_flags(&args.kty, args.crv.as_deref(), args.size)?;
    let path = match args.path {
        Some(p) => p,
        None => default_mayfly_path()?,
    };
    Ok(InitOptions {
        path,
        name,
        dns_names,
        address,
        provisioner,
        key_type,
        password_file: args.password_file,
        provisioner_password_file: args.provisioner_password_file,
        root: args.root.map(|certificate| ExistingRoot {
            certificate,
            key: args.key,
            key_password_file: args.key_password_file,
        }),
        root_kms: args.root_kms,
        intermediate_kms: args.intermediate_kms,
        csr_only: args.csr,
        intermediate: args.intermediate,
        force: args.force,
        admin_subject: args.remote_management.then_some(args.admin_subject),
    })
}

fn prompt(question: &str, default: Option<&str>) -> anyhow::Result<String> {
    loop {
        let mut err = std::io::stderr().lock();
        match default {
            Some(d) => write!(err, "{question} [{d}] ")?,
            None => write!(err, "{question} ")?,
        }
        err.flush()?;
        let mut line = String::new();
        if std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the answer")?
            == 0
        {
            bail!("no answer to {question:?} (end of input)");
        }
        match (line.trim(), default) {
            ("", Some(d)) => return Ok(d.to_owned()),
            ("", None) => continue,
            (answer, _) => return Ok(answer.to_owned()),
        }
    }
}

fn print_outcome(options: &InitOptions, outcome: &InitOutcome) {
    let l = &outcome.layout;
    let show = |what: &str, path: &std::path::Path| {
        if path.exists() {
            println!("{what:<28} {}", path.display());
        }
    };
    show("Root certificate:", &l.root_certificate);
    if options.root.is_none() && options.root_kms.is_none() && !options.csr_only {
        show("Root private key:", &l.root_key);
    }
    if let Some(uri) = &options.root_kms {
        println!("{:<28} {uri}", "Root private key (HSM):");
    }
    show("Intermediate certificate:", &l.intermediate_certificate);
    show("Intermediate CSR:", &l.intermediate_csr);
    match &options.intermediate_kms {
        Some(uri) => println!("{:<28} {uri}", "Intermediate key (HSM):"),
        None => show("Intermediate private key:", &l.intermediate_key),
    }
    if !options.csr_only {
        show("Configuration:", &l.ca_config);
        show("Client defaults:", &l.defaults);
        show("Database:", &l.database);
    }
    if let Some(path) = &outcome.generated_password {
        println!(
            "CA password (generated):     {} (mode 0600: keep it safe, back it up offline)",
            path.display()
        );
    }
    if let Some(path) = &outcome.generated_provisioner_password {
        println!(
            "Provisioner password:        {} (mode 0600)",
            path.display()
        );
    }
    if let Some(fingerprint) = &outcome.root_fingerprint {
        println!("\nRoot fingerprint: {fingerprint}");
    }
    let password = options
        .password_file
        .as_ref()
        .or(outcome.generated_password.as_ref())
        .map_or_else(|| "FILE".to_owned(), |p| p.display().to_string());
    println!("\nNext:");
    if options.csr_only {
        println!(
            "  1. On the offline host (docs/offline-root.md): mayfly-root sign-csr {} --ca ROOT_CRT \\",
            l.intermediate_csr.display()
        );
        println!(
            "       --ca-key ROOT_KEY --out intermediate_ca.crt, and bring the certificate back as {}.",
            l.intermediate_certificate.display()
        );
        println!(
            "  2. mayfly-ca init --path {} --name {:?} --dns {} --address {} --provisioner {:?} \\\n       \
             --root {} --intermediate {}{}",
            l.base.display(),
            options.name,
            options.dns_names.join(","),
            options.address,
            options.provisioner,
            if options.root.is_some() {
                l.root_certificate.display().to_string()
            } else {
                "ROOT_CRT".to_owned()
            },
            l.intermediate_certificate.display(),
            options
                .password_file
                .as_ref()
                .map_or_else(String::new, |p| format!(" --password-file {}", p.display())),
        );
        return;
    }
    println!(
        "  mayfly-ca serve --ca-config {} --password-file {password}",
        l.ca_config.display()
    );
    if let Some(fingerprint) = &outcome.root_fingerprint {
        println!(
            "  mayfly ca bootstrap --ca-url {} --fingerprint {fingerprint}    (on each client)",
            outcome.ca_url
        );
    }
    match &options.admin_subject {
        None => println!(
            "  mayfly-ca provisioner list --ca-config {}",
            l.ca_config.display()
        ),
        Some(subject) => {
            let provisioner_password = options
                .provisioner_password_file
                .as_ref()
                .or(outcome.generated_provisioner_password.as_ref())
                .map_or_else(|| "FILE".to_owned(), |p| p.display().to_string());
            println!(
                "\nRemote management is on: provisioners and admins live in the database.\n\
                 Super admin: {subject:?} (provisioner {:?}). Manage the CA with, for example:",
                options.provisioner
            );
            println!(
                "  mayfly ca provisioner add acme --type ACME --admin-provisioner {:?} --admin-subject {subject:?} --password-file {provisioner_password}",
                options.provisioner
            );
            println!(
                "  mayfly ca admin list --admin-provisioner {:?} --admin-subject {subject:?} --password-file {provisioner_password}",
                options.provisioner
            );
        }
    }
}
