//! `mayfly-ca provisioner list|add|update|remove`: edits the provisioners in ca.json.
//!
//! ca.json is edited as a JSON value that keeps its key order, validated as a whole by
//! `CaConfig::from_json` before anything is written, then replaced atomically after the old
//! version is copied to `ca.json.bak`. A running CA picks the change up on SIGHUP.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use indexmap::IndexMap;
use mayfly_authority::config::CaConfig;
use mayfly_jwt::Jwk;
use mayfly_keys::Password;

use crate::files::{absolute, default_mayfly_path, generate_password_file, read_password};
use crate::json::Json;

/// Provisioner commands.
#[derive(Subcommand, Debug)]
pub enum ProvisionerCommand {
    /// Print the provisioners in ca.json as JSON.
    List(ConfigArg),
    /// Add a provisioner.
    Add(AddArgs),
    /// Change a provisioner's claims or template.
    Update(UpdateArgs),
    /// Remove a provisioner.
    Remove(RemoveArgs),
}

/// Which ca.json to edit.
#[derive(Args, Debug)]
pub struct ConfigArg {
    /// The ca.json to edit [default: $MAYFLY_PATH/config/ca.json].
    #[arg(long, value_name = "FILE")]
    pub ca_config: Option<PathBuf>,
}

/// `provisioner add`.
#[derive(Args, Debug)]
pub struct AddArgs {
    /// The provisioner's name (tokens carry it as `iss`).
    pub name: String,
    /// The provisioner type.
    #[arg(long = "type", value_enum, default_value = "jwk")]
    pub kind: Kind,
    /// Create a fresh key pair (the default for JWK without --public-key).
    #[arg(long, conflicts_with = "public_key")]
    pub create: bool,
    /// Use this public JWK (JSON file) instead of creating a key pair.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// The password encrypting a created key [default: generated and written 0600 under
    /// secrets/].
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `provisioner update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// The provisioner to change.
    pub name: String,
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// `provisioner remove`.
#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// The provisioner to remove.
    pub name: String,
    #[command(flatten)]
    pub config: ConfigArg,
}

/// Provisioner types `add` creates.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One-time tokens signed by the provisioner's JWK.
    #[value(name = "jwk", alias = "JWK")]
    Jwk,
    /// ACME clients.
    #[value(name = "acme", alias = "ACME")]
    Acme,
}

/// Claims and template settings (an empty duration removes the claim).
#[derive(Args, Debug, Default)]
pub struct Settings {
    /// Shortest certificate validity (`minTLSCertDuration`, e.g. "5m").
    #[arg(long, value_name = "DURATION")]
    pub x509_min_dur: Option<String>,
    /// Longest certificate validity (`maxTLSCertDuration`, e.g. "24h").
    #[arg(long, value_name = "DURATION")]
    pub x509_max_dur: Option<String>,
    /// Validity when a request names none (`defaultTLSCertDuration`).
    #[arg(long, value_name = "DURATION")]
    pub x509_default_dur: Option<String>,
    /// Refuse renewals of this provisioner's certificates (`--disable-renewal=false` undoes).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub disable_renewal: Option<bool>,
    /// Allow renewing a certificate after it expired.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_renewal_after_expiry: Option<bool>,
    /// A certificate template file (step's Go text/template syntax); "" removes it.
    #[arg(long, alias = "template-file", value_name = "FILE", value_parser = empty_path_allowed)]
    pub x509_template: Option<PathBuf>,
}

/// A path flag where "" means "remove" (clap's own path parser refuses empty values).
fn empty_path_allowed(value: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(value))
}

/// Runs one provisioner command.
pub fn run(command: ProvisionerCommand) -> anyhow::Result<()> {
    match command {
        ProvisionerCommand::List(config) => {
            let file = ConfigFile::open(config.ca_config)?;
            println!(
                "{}",
                Json::Array(file.provisioners()?.clone())
                    .to_pretty()?
                    .trim_end()
            );
            Ok(())
        }
        ProvisionerCommand::Add(args) => add(args),
        ProvisionerCommand::Update(args) => {
            let mut file = ConfigFile::open(args.config.ca_config)?;
            let provisioner = file.find(&args.name)?;
            if !args.settings.apply(provisioner)? {
                bail!("nothing to update: give a claim or template flag");
            }
            file.save()?;
            println!(
                "Updated provisioner {:?} in {}.",
                args.name,
                file.path.display()
            );
            print_reload_hint();
            Ok(())
        }
        ProvisionerCommand::Remove(args) => {
            let mut file = ConfigFile::open(args.config.ca_config)?;
            let list = file.provisioners_mut()?;
            let index = position(list, &args.name)?;
            list.remove(index);
            file.save()?;
            println!(
                "Removed provisioner {:?} from {}.",
                args.name,
                file.path.display()
            );
            print_reload_hint();
            Ok(())
        }
    }
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    if args.name.trim().is_empty() {
        bail!("the provisioner name is empty");
    }
    let mut file = ConfigFile::open(args.config.ca_config)?;
    if position(file.provisioners_mut()?, &args.name).is_ok() {
        bail!("a provisioner named {:?} already exists", args.name);
    }
    let mut generated = None;
    let mut provisioner = match args.kind {
        Kind::Acme => {
            if args.create || args.public_key.is_some() || args.password_file.is_some() {
                bail!("--create, --public-key and --password-file are for JWK provisioners");
            }
            Json::object([("type", "ACME".into()), ("name", args.name.as_str().into())])
        }
        Kind::Jwk => match &args.public_key {
            Some(path) => Json::object([
                ("type", "JWK".into()),
                ("name", args.name.as_str().into()),
                ("key", read_public_jwk(path)?),
            ]),
            None => {
                let password = match &args.password_file {
                    Some(path) => read_password(path)?,
                    None => {
                        let path = file
                            .secrets_dir()
                            .join(format!("{}_password.txt", file_stem(&args.name)));
                        let password = generate_password_file(&path, false).context(
                            "a password file for this name exists already: pass --password-file",
                        )?;
                        generated = Some(path);
                        password
                    }
                };
                new_jwk_provisioner(&args.name, &password)?
            }
        },
    };
    if let Some(kid) = provisioner.at(&["key", "kid"]).and_then(Json::as_str)
        && file
            .provisioners()?
            .iter()
            .any(|p| p.at(&["key", "kid"]).and_then(Json::as_str) == Some(kid))
    {
        bail!("another provisioner already uses the key {kid}");
    }
    let saved = args.settings.apply(&mut provisioner).and_then(|_| {
        file.provisioners_mut()?.push(provisioner);
        file.save()
    });
    if let Err(e) = saved {
        // The key this password protected was never stored: do not leave its password behind.
        if let Some(path) = &generated {
            let _ = std::fs::remove_file(path);
        }
        return Err(e);
    }
    println!(
        "Added provisioner {:?} to {}.",
        args.name,
        file.path.display()
    );
    if let Some(path) = generated {
        println!(
            "Its key password was generated and written to {} (mode 0600).",
            path.display()
        );
    }
    print_reload_hint();
    Ok(())
}

/// A JWK provisioner with a fresh P-256 key, the private half encrypted with `password`
/// (compact JWE, as step stores `encryptedKey`); `key.kid` is the RFC 7638 thumbprint.
pub fn new_jwk_provisioner(name: &str, password: &Password) -> anyhow::Result<Json> {
    let (public, encrypted) = mayfly_jwt::new_provisioner_key(password)?;
    Ok(Json::object([
        ("type", "JWK".into()),
        ("name", name.into()),
        ("key", Json::from_serialize(&public)?),
        ("encryptedKey", encrypted.into()),
    ]))
}

fn read_public_jwk(path: &Path) -> anyhow::Result<Json> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut jwk =
        Jwk::from_json(&bytes).with_context(|| format!("{} is not a JWK", path.display()))?;
    if jwk.is_private() {
        bail!(
            "{} holds a private key: give the public JWK",
            path.display()
        );
    }
    jwk.to_public_key()
        .with_context(|| format!("{} is not a usable public key", path.display()))?;
    if jwk.kid.is_none() {
        jwk.kid = Some(jwk.thumbprint()?);
    }
    Ok(Json::from_serialize(&jwk)?)
}

fn print_reload_hint() {
    println!("A running CA picks the change up on SIGHUP (kill -HUP <pid of mayfly-ca serve>).");
}

fn position(list: &[Json], name: &str) -> anyhow::Result<usize> {
    list.iter()
        .position(|p| p.get("name").and_then(Json::as_str) == Some(name))
        .ok_or_else(|| {
            let names: Vec<&str> = list
                .iter()
                .filter_map(|p| p.get("name")?.as_str())
                .collect();
            anyhow!(
                "no provisioner named {name:?} (there are: {})",
                names.join(", ")
            )
        })
}

/// A name reduced to characters safe in a file name.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Settings {
    /// Applies the flags to a provisioner object; returns whether any flag was given.
    fn apply(&self, provisioner: &mut Json) -> anyhow::Result<bool> {
        let object = provisioner
            .as_object_mut()
            .ok_or_else(|| anyhow!("the provisioner entry is not a JSON object"))?;
        let mut changed = false;
        let claims = [
            (
                "minTLSCertDuration",
                self.x509_min_dur.as_deref().map(duration_value),
            ),
            (
                "maxTLSCertDuration",
                self.x509_max_dur.as_deref().map(duration_value),
            ),
            (
                "defaultTLSCertDuration",
                self.x509_default_dur.as_deref().map(duration_value),
            ),
            ("disableRenewal", self.disable_renewal.map(Json::Bool)),
            (
                "allowRenewalAfterExpiry",
                self.allow_renewal_after_expiry.map(Json::Bool),
            ),
        ];
        for (key, value) in claims {
            if let Some(value) = value {
                set_or_remove(object, &["claims"], key, value)?;
                changed = true;
            }
        }
        if let Some(path) = &self.x509_template {
            let value = if path.as_os_str().is_empty() {
                Json::Null
            } else {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                mayfly_template::Template::parse("provisioner", &text)
                    .with_context(|| format!("{} is not a valid template", path.display()))?;
                Json::String(absolute(path)?.to_string_lossy().into_owned())
            };
            set_or_remove(object, &["options", "x509"], "templateFile", value)?;
            changed = true;
        }
        Ok(changed)
    }
}

/// A duration flag as JSON: "" removes the claim, anything else is checked by ca.json parsing.
fn duration_value(text: &str) -> Json {
    if text.is_empty() {
        Json::Null
    } else {
        Json::String(text.to_owned())
    }
}

/// Sets `object.path...key = value` (creating the path), or removes the key when `value` is
/// null, dropping objects left empty.
fn set_or_remove(
    object: &mut IndexMap<String, Json>,
    path: &[&str],
    key: &str,
    value: Json,
) -> anyhow::Result<()> {
    let Some((first, rest)) = path.split_first() else {
        if value == Json::Null {
            object.shift_remove(key);
        } else {
            object.insert(key.to_owned(), value);
        }
        return Ok(());
    };
    let child = object
        .entry(first.to_string())
        .or_insert_with(|| Json::Object(IndexMap::new()))
        .as_object_mut()
        .ok_or_else(|| anyhow!("`{first}` in the provisioner is not a JSON object"))?;
    set_or_remove(child, rest, key, value)?;
    if child.is_empty() {
        object.shift_remove(*first);
    }
    Ok(())
}

/// ca.json, open for editing.
struct ConfigFile {
    path: PathBuf,
    original: String,
    value: Json,
}

impl ConfigFile {
    fn open(path: Option<PathBuf>) -> anyhow::Result<Self> {
        let path = match path {
            Some(path) => path,
            None => default_mayfly_path()?.join("config").join("ca.json"),
        };
        let path = absolute(&path)?;
        let original = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let config = CaConfig::from_json(&original)
            .map_err(|(location, message)| anyhow!("{}: {location}: {message}", path.display()))?;
        if config.authority.enable_admin {
            bail!(
                "{} has enableAdmin: its provisioners live in the database; use the admin API",
                path.display()
            );
        }
        let value = Json::parse(&original)?;
        Ok(Self {
            path,
            original,
            value,
        })
    }

    fn provisioners(&self) -> anyhow::Result<&Vec<Json>> {
        static EMPTY: Vec<Json> = Vec::new();
        match self.value.at(&["authority", "provisioners"]) {
            None => Ok(&EMPTY),
            Some(Json::Array(list)) => Ok(list),
            Some(_) => bail!("authority.provisioners is not a list"),
        }
    }

    fn provisioners_mut(&mut self) -> anyhow::Result<&mut Vec<Json>> {
        let authority = self
            .value
            .as_object_mut()
            .ok_or_else(|| anyhow!("ca.json is not a JSON object"))?
            .entry("authority".to_owned())
            .or_insert_with(|| Json::Object(IndexMap::new()))
            .as_object_mut()
            .ok_or_else(|| anyhow!("authority is not a JSON object"))?;
        authority
            .entry("provisioners".to_owned())
            .or_insert_with(|| Json::Array(Vec::new()))
            .as_array_mut()
            .ok_or_else(|| anyhow!("authority.provisioners is not a list"))
    }

    fn find(&mut self, name: &str) -> anyhow::Result<&mut Json> {
        let list = self.provisioners_mut()?;
        let index = position(list, name)?;
        list.get_mut(index)
            .ok_or_else(|| anyhow!("no provisioner named {name:?}"))
    }

    /// `$MAYFLY_PATH/secrets` for a ca.json in step's layout, else `secrets/` beside it.
    fn secrets_dir(&self) -> PathBuf {
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        let base = match dir.file_name() {
            Some(name) if name == "config" => dir.parent().unwrap_or(dir),
            _ => dir,
        };
        base.join("secrets")
    }

    /// Validates the edited document, keeps the old one as `ca.json.bak`, and replaces
    /// ca.json atomically.
    fn save(&self) -> anyhow::Result<()> {
        let text = self.value.to_pretty()?;
        CaConfig::from_json(&text).map_err(|(location, message)| {
            anyhow!("refusing the change, ca.json would be invalid at {location}: {message}")
        })?;
        let mut backup = self.path.clone().into_os_string();
        backup.push(".bak");
        let backup = PathBuf::from(backup);
        mayfly_keys::write_secret_file(&backup, self.original.as_bytes(), true)
            .with_context(|| format!("writing the backup {}", backup.display()))?;
        mayfly_keys::write_secret_file(&self.path, text.as_bytes(), true)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}
