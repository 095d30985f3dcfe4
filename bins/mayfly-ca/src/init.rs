//! `mayfly-ca init`: a two-tier PKI and its configuration, in step-ca's layout.
//!
//! [`init`] is non-interactive and library-shaped so `quickstart` can call it; the command
//! line (prompts, printing) lives in `init_cli.rs`.

use std::fs::DirBuilder;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use mayfly_keys::{Cipher, KeyType, Password, Pkcs11Location, Pkcs11Signer, PrivateKey};
use mayfly_template::{
    CA_LIFETIME, Certificate, DEFAULT_INTERMEDIATE_TEMPLATE, DEFAULT_ROOT_TEMPLATE, Issuer,
    TemplateData, ValidityPeriod,
};
use serde_json::{Value, json};

use crate::files::{NewPassword, absolute, read_password};
use crate::json::Json;

/// A signing key: software or inside an HSM.
type BoxedSigner = Box<dyn mayfly_keys::Signer>;

/// The default API address written to ca.json.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:9000";

/// Everything `init` needs; every choice is explicit (the command line fills in prompts).
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The PKI folder (`$MAYFLY_PATH`).
    pub path: PathBuf,
    /// The CA's name: subjects become "NAME Root CA" and "NAME Intermediate CA".
    pub name: String,
    /// The names the CA is reached at (its TLS certificate's SANs, token audiences).
    pub dns_names: Vec<String>,
    /// The API listen address (`127.0.0.1:9000`, `:443`).
    pub address: String,
    /// The name of the first JWK provisioner.
    pub provisioner: String,
    /// The type of the root and intermediate keys.
    pub key_type: KeyType,
    /// The CA password (encrypts the CA keys); generated into `secrets/password.txt` if absent.
    pub password_file: Option<PathBuf>,
    /// The provisioner key's password; generated into `secrets/provisioner_password.txt`.
    pub provisioner_password_file: Option<PathBuf>,
    /// An existing root to use instead of creating one.
    pub root: Option<ExistingRoot>,
    /// A `pkcs11:` URI for the root key (opened, or generated inside the HSM if absent).
    pub root_kms: Option<String>,
    /// A `pkcs11:` URI for the intermediate key (opened, or generated if absent).
    pub intermediate_kms: Option<String>,
    /// Write the intermediate key and a CSR for the offline root, and stop.
    pub csr_only: bool,
    /// Complete a `--csr` run: the intermediate certificate the offline root signed (its key
    /// is `secrets/intermediate_ca_key` or `intermediate_kms`; `root` names the root).
    pub intermediate: Option<PathBuf>,
    /// Replace an existing PKI in `path`.
    pub force: bool,
    /// Remote management: set `authority.enableAdmin` and make this subject the first
    /// SUPER_ADMIN, authenticated through the first provisioner.
    pub admin_subject: Option<String>,
}

/// An existing root certificate, with its key unless the root is offline.
#[derive(Debug, Clone)]
pub struct ExistingRoot {
    /// The root certificate (PEM).
    pub certificate: PathBuf,
    /// The root key (PEM); `None` when the root stays offline (only with `--csr`).
    pub key: Option<PathBuf>,
    /// The root key's password file; the CA password is tried when absent.
    pub key_password_file: Option<PathBuf>,
}

/// What `init` wrote.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// Where every file is.
    pub layout: Layout,
    /// The root's SHA-256 fingerprint (hex), when the root is known.
    pub root_fingerprint: Option<String>,
    /// `https://dns[0]:port`, the URL clients bootstrap from.
    pub ca_url: String,
    /// The CA password file, when `init` generated it.
    pub generated_password: Option<PathBuf>,
    /// The provisioner password file, when `init` generated it.
    pub generated_provisioner_password: Option<PathBuf>,
}

/// The step-compatible layout under `$MAYFLY_PATH` (absolute paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The PKI folder.
    pub base: PathBuf,
    /// `certs/root_ca.crt`.
    pub root_certificate: PathBuf,
    /// `certs/intermediate_ca.crt`.
    pub intermediate_certificate: PathBuf,
    /// `certs/intermediate_ca.csr` (`--csr` mode).
    pub intermediate_csr: PathBuf,
    /// `secrets/root_ca_key`.
    pub root_key: PathBuf,
    /// `secrets/intermediate_ca_key`.
    pub intermediate_key: PathBuf,
    /// `secrets/password.txt` (a generated CA password).
    pub password: PathBuf,
    /// `secrets/provisioner_password.txt` (a generated provisioner password).
    pub provisioner_password: PathBuf,
    /// `config/ca.json`.
    pub ca_config: PathBuf,
    /// `config/defaults.json`.
    pub defaults: PathBuf,
    /// `db/mayfly.db`.
    pub database: PathBuf,
}

impl Layout {
    /// The layout under `base` (made absolute).
    pub fn new(base: &Path) -> anyhow::Result<Self> {
        let base = absolute(base)?;
        let at = |dir: &str, file: &str| base.join(dir).join(file);
        Ok(Self {
            root_certificate: at("certs", "root_ca.crt"),
            intermediate_certificate: at("certs", "intermediate_ca.crt"),
            intermediate_csr: at("certs", "intermediate_ca.csr"),
            root_key: at("secrets", "root_ca_key"),
            intermediate_key: at("secrets", "intermediate_ca_key"),
            password: at("secrets", "password.txt"),
            provisioner_password: at("secrets", "provisioner_password.txt"),
            ca_config: at("config", "ca.json"),
            defaults: at("config", "defaults.json"),
            database: at("db", "mayfly.db"),
            base,
        })
    }

    /// Files whose presence means a PKI already lives here (only the configuration when
    /// `completing` a `--csr` run, whose key, CSR and CA password are expected).
    fn existing_pki_files(&self, completing: bool) -> impl Iterator<Item = &Path> {
        let files = if completing {
            vec![&self.ca_config, &self.defaults, &self.provisioner_password]
        } else {
            vec![
                &self.ca_config,
                &self.password,
                &self.provisioner_password,
                &self.root_certificate,
                &self.intermediate_certificate,
                &self.intermediate_csr,
                &self.root_key,
                &self.intermediate_key,
            ]
        };
        files
            .into_iter()
            .map(PathBuf::as_path)
            .filter(|p| p.exists())
    }

    fn create_folders(&self) -> anyhow::Result<()> {
        for (dir, mode) in [
            ("certs", 0o755),
            ("config", 0o755),
            ("db", 0o700),
            ("secrets", 0o700),
        ] {
            let path = self.base.join(dir);
            DirBuilder::new()
                .recursive(true)
                .mode(mode)
                .create(&path)
                .with_context(|| format!("creating {}", path.display()))?;
        }
        Ok(())
    }
}

/// Creates the PKI, ca.json, defaults.json and the database (see the module docs).
pub fn init(options: &InitOptions) -> anyhow::Result<InitOutcome> {
    check_options(options)?;
    let layout = Layout::new(&options.path)?;
    if let Some(existing) = layout
        .existing_pki_files(options.intermediate.is_some())
        .next()
        && !options.force
    {
        bail!(
            "{} already holds a PKI ({} exists); pass --force to replace it",
            layout.base.display(),
            existing.display()
        );
    }
    layout.create_folders()?;
    let overwrite = options.force;
    // Generated passwords are written once the keys they protect exist, and checked before
    // any key is made, so a refusal leaves nothing half-written.
    let ca_password = match &options.intermediate {
        // Completing a `--csr` run: the key was encrypted with that run's password.
        Some(_) if options.password_file.is_none() => NewPassword::read(&layout.password)?,
        _ => NewPassword::read_or_generate(options.password_file.as_deref(), &layout.password)?,
    };
    let password = &ca_password.password;
    let provisioner_password = NewPassword::read_or_generate(
        options.provisioner_password_file.as_deref(),
        &layout.provisioner_password,
    )?;
    if !options.csr_only && provisioner_password.password.matches(password) {
        bail!("the provisioner password must differ from the CA password");
    }
    let key_location = match &options.intermediate_kms {
        Some(uri) => uri.clone(),
        None => path_string(&layout.intermediate_key)?,
    };
    let root = match &options.intermediate {
        Some(intermediate) => {
            adopt_signed_intermediate(options, &layout, intermediate, password, &key_location)?
        }
        None => {
            let intermediate_key = intermediate_signer(options, &layout, password)?;
            if options.csr_only {
                return write_csr(options, layout, intermediate_key.as_ref(), &ca_password);
            }
            create_pki(options, &layout, intermediate_key.as_ref(), password)?
        }
    };

    let generated_password = ca_password.persist(overwrite)?;
    let generated_provisioner_password = provisioner_password.persist(overwrite)?;
    let provisioner = crate::provisioner::new_jwk_provisioner(
        &options.provisioner,
        &provisioner_password.password,
    )?;
    let ca_json = ca_config_value(options, &layout, &key_location, provisioner)?;
    let text = ca_json.to_pretty()?;
    mayfly_authority::config::CaConfig::from_json(&text).map_err(|(location, message)| {
        anyhow!("the generated ca.json is invalid at {location}: {message}")
    })?;
    mayfly_keys::write_secret_file(&layout.ca_config, text.as_bytes(), overwrite)
        .with_context(|| format!("writing {}", layout.ca_config.display()))?;

    let fingerprint = mayfly_template::fingerprint_sha256(&root)?;
    let url = ca_url(options)?;
    let defaults = json!({
        "ca-url": url,
        "ca-config": path_string(&layout.ca_config)?,
        "fingerprint": fingerprint,
        "root": path_string(&layout.root_certificate)?,
    });
    write_public(
        &layout.defaults,
        (serde_json::to_string_pretty(&defaults)? + "\n").as_bytes(),
        overwrite,
    )?;
    create_database(&layout, options)?;
    Ok(InitOutcome {
        layout,
        root_fingerprint: Some(fingerprint),
        ca_url: url,
        generated_password,
        generated_provisioner_password,
    })
}

/// Creates (or adopts) the root and issues the intermediate; returns the root.
fn create_pki(
    options: &InitOptions,
    layout: &Layout,
    intermediate_key: &dyn mayfly_keys::Signer,
    password: &Password,
) -> anyhow::Result<Certificate> {
    let (root, root_key) = root_certificate(options, layout, password)?;
    write_certificate(&layout.root_certificate, &root, options.force)?;
    let subject = format!("{} Intermediate CA", options.name);
    let data = TemplateData::new(&subject, &[])
        .with_public_key(intermediate_key.public_key())
        .to_value();
    let intermediate = build(
        DEFAULT_INTERMEDIATE_TEMPLATE,
        &data,
        intermediate_key.public_key(),
        Issuer::Ca(&root, root_key.as_ref()),
    )?;
    write_certificate(
        &layout.intermediate_certificate,
        &intermediate,
        options.force,
    )?;
    Ok(root)
}

/// `--csr`: writes the intermediate's CSR (and the root, if given) and stops.
fn write_csr(
    options: &InitOptions,
    layout: Layout,
    intermediate_key: &dyn mayfly_keys::Signer,
    ca_password: &NewPassword,
) -> anyhow::Result<InitOutcome> {
    let root_fingerprint = match &options.root {
        Some(root) => {
            let certificate = read_certificate(&root.certificate)?;
            write_certificate(&layout.root_certificate, &certificate, options.force)?;
            Some(mayfly_template::fingerprint_sha256(&certificate)?)
        }
        None => None,
    };
    let subject = format!("{} Intermediate CA", options.name);
    let csr = mayfly_template::build_request(&subject, &[], intermediate_key)?;
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &csr)
        .map_err(|e| anyhow!("encoding the CSR: {e}"))?;
    write_public(&layout.intermediate_csr, pem.as_bytes(), options.force)?;
    Ok(InitOutcome {
        root_fingerprint,
        ca_url: ca_url(options)?,
        generated_password: ca_password.persist(options.force)?,
        generated_provisioner_password: None,
        layout,
    })
}

/// Completes a `--csr` run: checks that the root issued `intermediate` and that the key in
/// `key_location` is its key, then copies both certificates into the layout.
fn adopt_signed_intermediate(
    options: &InitOptions,
    layout: &Layout,
    intermediate: &Path,
    password: &Password,
    key_location: &str,
) -> anyhow::Result<Certificate> {
    let Some(root) = &options.root else {
        bail!("--intermediate needs --root: the root certificate that signed it");
    };
    let root = read_certificate(&root.certificate)?;
    let certificate = read_certificate(intermediate)?;
    let key = mayfly_keys::load_signer(key_location, Some(password))
        .with_context(|| format!("opening the intermediate key {key_location}"))?;
    mayfly_authority::CaMaterial::new(vec![root.clone()], Vec::new(), certificate.clone(), key)
        .with_context(|| format!("checking {}", intermediate.display()))?;
    write_certificate(&layout.root_certificate, &root, true)?;
    write_certificate(&layout.intermediate_certificate, &certificate, true)?;
    Ok(root)
}

fn check_options(options: &InitOptions) -> anyhow::Result<()> {
    if options.name.trim().is_empty() {
        bail!("the CA name is empty (--name)");
    }
    if options.dns_names.is_empty() || options.dns_names.iter().any(|d| d.trim().is_empty()) {
        bail!("the CA needs at least one non-empty DNS name or IP address (--dns)");
    }
    if options.provisioner.trim().is_empty() {
        bail!("the provisioner name is empty (--provisioner)");
    }
    port(&options.address)?;
    if options.root.is_some() && options.root_kms.is_some() {
        bail!("--root and --root-kms exclude each other");
    }
    if options.csr_only && options.root_kms.is_some() {
        bail!("--csr is for an offline root: it does not use --root-kms");
    }
    if options.intermediate.is_some() && (options.csr_only || options.root.is_none()) {
        bail!("--intermediate completes a --csr run: give it with --root and without --csr");
    }
    if options.key_type == KeyType::Ed25519 {
        bail!("Ed25519 CA keys are not accepted by most TLS clients: use EC (P-256, P-384) or RSA");
    }
    Ok(())
}

/// The port of a listen address (`host:port`, `:port`, `[v6]:port`).
fn port(address: &str) -> anyhow::Result<u16> {
    address
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .ok_or_else(|| {
            anyhow!("address {address:?} is not host:port (e.g. 127.0.0.1:9000 or :443)")
        })
}

fn ca_url(options: &InitOptions) -> anyhow::Result<String> {
    let port = port(&options.address)?;
    let host = options
        .dns_names
        .first()
        .map(String::as_str)
        .unwrap_or("localhost");
    let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok(if port == 443 {
        format!("https://{host}")
    } else {
        format!("https://{host}:{port}")
    })
}

/// The intermediate key: from/in the HSM, or a fresh software key written encrypted.
fn intermediate_signer(
    options: &InitOptions,
    layout: &Layout,
    password: &Password,
) -> anyhow::Result<BoxedSigner> {
    match &options.intermediate_kms {
        Some(uri) => kms_signer(uri, password, options.key_type),
        None => generate_key(&layout.intermediate_key, password, options),
    }
}

/// The root certificate and its key: existing, in the HSM, or freshly generated.
fn root_certificate(
    options: &InitOptions,
    layout: &Layout,
    password: &Password,
) -> anyhow::Result<(Certificate, BoxedSigner)> {
    if let Some(root) = &options.root {
        let certificate = read_certificate(&root.certificate)?;
        let Some(key_file) = &root.key else {
            bail!(
                "the root key is needed to sign the intermediate: give --key, or use --csr so \
                 the offline root signs the intermediate's CSR"
            );
        };
        let key_password = match &root.key_password_file {
            Some(file) => read_password(file)?,
            None => Password::from_bytes(password.as_bytes().to_vec()),
        };
        let key = mayfly_keys::load_signer(&path_string(key_file)?, Some(&key_password))
            .with_context(|| format!("reading the root key {}", key_file.display()))?;
        if *key.public_key() != mayfly_template::certificate_public_key(&certificate)? {
            bail!(
                "the key {} does not belong to the root {}",
                key_file.display(),
                root.certificate.display()
            );
        }
        return Ok((certificate, key));
    }
    let key = match &options.root_kms {
        Some(uri) => kms_signer(uri, password, options.key_type)?,
        None => generate_key(&layout.root_key, password, options)?,
    };
    let data = TemplateData::new(&format!("{} Root CA", options.name), &[])
        .with_public_key(key.public_key())
        .to_value();
    let certificate = build(
        DEFAULT_ROOT_TEMPLATE,
        &data,
        key.public_key(),
        Issuer::SelfSigned(key.as_ref()),
    )?;
    Ok((certificate, key))
}

fn build(
    template: &str,
    data: &Value,
    subject_key: &mayfly_keys::PublicKey,
    issuer: Issuer<'_>,
) -> anyhow::Result<Certificate> {
    let validity = ValidityPeriod::starting_now(CA_LIFETIME);
    Ok(mayfly_template::build_from_template(
        template,
        data,
        subject_key,
        issuer,
        validity,
    )?)
}

/// Generates a software key and writes it to `path`, encrypted with `password`.
fn generate_key(
    path: &Path,
    password: &Password,
    options: &InitOptions,
) -> anyhow::Result<BoxedSigner> {
    let key = PrivateKey::generate(options.key_type)?;
    let pem = mayfly_keys::write_private_key_pem(&key, Some(password), Cipher::default())?;
    mayfly_keys::write_secret_file(path, pem.as_bytes(), options.force)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(Box::new(key))
}

/// Opens the HSM key at `uri`, or generates it there (never extractable) when it is absent.
fn kms_signer(uri: &str, password: &Password, key_type: KeyType) -> anyhow::Result<BoxedSigner> {
    let location = Pkcs11Location::from_uri(uri)?;
    let name = format!("token {:?} object {:?}", location.token, location.object);
    match Pkcs11Signer::open(&location, Some(password)) {
        Ok(signer) => Ok(Box::new(signer)),
        Err(open) => match Pkcs11Signer::generate(&location, Some(password), key_type) {
            Ok(signer) => Ok(Box::new(signer)),
            Err(generate) => Err(anyhow!(
                "HSM key {name}: opening it failed ({open}) and generating it failed ({generate}); \
                 the PIN comes from the URI's pin-source or else --password-file"
            )),
        },
    }
}

fn read_certificate(path: &Path) -> anyhow::Result<Certificate> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    mayfly_template::parse_certificate_pem(&text)
        .with_context(|| format!("parsing {}", path.display()))
}

fn write_certificate(
    path: &Path,
    certificate: &Certificate,
    overwrite: bool,
) -> anyhow::Result<()> {
    write_public(
        path,
        mayfly_template::certificate_to_pem(certificate)?.as_bytes(),
        overwrite,
    )
}

fn write_public(path: &Path, contents: &[u8], overwrite: bool) -> anyhow::Result<()> {
    mayfly_keys::write_public_file(path, contents, overwrite)
        .with_context(|| format!("writing {}", path.display()))
}

fn path_string(path: &Path) -> anyhow::Result<String> {
    path.to_str().map(str::to_owned).ok_or_else(|| {
        anyhow!(
            "{} is not valid UTF-8: ca.json cannot hold it",
            path.display()
        )
    })
}

/// ca.json with step's key names, in step's order, with absolute paths.
fn ca_config_value(
    options: &InitOptions,
    layout: &Layout,
    key_location: &str,
    provisioner: Json,
) -> anyhow::Result<Json> {
    Ok(Json::object([
        ("root", path_string(&layout.root_certificate)?.into()),
        ("crt", path_string(&layout.intermediate_certificate)?.into()),
        ("key", key_location.into()),
        ("address", options.address.as_str().into()),
        ("dnsNames", options.dns_names.clone().into()),
        ("logger", Json::object([("format", "text".into())])),
        ("db", database_block(layout)?),
        (
            "authority",
            if options.admin_subject.is_some() {
                Json::object([
                    ("provisioners", Json::Array(vec![provisioner])),
                    ("enableAdmin", true.into()),
                ])
            } else {
                Json::object([("provisioners", Json::Array(vec![provisioner]))])
            },
        ),
        (
            "tls",
            Json::object([
                (
                    "cipherSuites",
                    vec![
                        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
                    ]
                    .into(),
                ),
                ("minVersion", 1.2.into()),
                ("maxVersion", 1.2.into()),
                ("renegotiation", false.into()),
            ]),
        ),
        ("crl", Json::object([("enabled", true.into())])),
    ]))
}

/// `{"type": "sqlite", "dataSource": "<abs>/db/mayfly.db"}`.
fn database_block(layout: &Layout) -> anyhow::Result<Json> {
    Ok(Json::object([
        ("type", "sqlite".into()),
        ("dataSource", path_string(&layout.database)?.into()),
    ]))
}

/// Creates the SQLite database and its schema now, so a bad folder fails at init, not serve.
/// With remote management, also seeds its registry with the provisioner and the first super
/// admin.
fn create_database(layout: &Layout, options: &InitOptions) -> anyhow::Result<()> {
    let config: mayfly_store::DbConfig =
        serde_json::from_str(&serde_json::to_string(&database_block(layout)?)?)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = mayfly_store::Store::open(&config)
            .await
            .context("creating the database")?;
        if let Some(subject) = &options.admin_subject {
            let ca = mayfly_authority::config::CaConfig::load(&layout.ca_config)?;
            mayfly_authority::seed_registry(&store, &ca, subject).await?;
        }
        anyhow::Ok(())
    })
}
