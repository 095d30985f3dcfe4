//! Remote management of a CA with `authority.enableAdmin`: `mayfly ca provisioner
//! add|update|remove`, `mayfly ca admin add|list|remove`, `mayfly ca acme eab add|list|remove`,
//! all through the admin API, as an admin (mTLS certificate, or tokens of an admin's JWK
//! provisioner).

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use mayfly_client::{AdminAuth, Client, Identity};
use serde_json::{Value, json};

use super::ConnArgs;

/// How to authenticate as an admin, and where the CA is.
#[derive(Args, Clone, Debug)]
pub struct AdminArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// An admin's certificate, presented over mTLS (with --admin-key).
    #[arg(long, value_name = "FILE", requires = "admin_key", conflicts_with_all = ["admin_provisioner", "admin_subject"])]
    pub admin_cert: Option<PathBuf>,
    /// The key of --admin-cert.
    #[arg(long, value_name = "FILE", requires = "admin_cert")]
    pub admin_key: Option<PathBuf>,
    /// The admin's JWK provisioner: its key signs one-time admin tokens (with
    /// --admin-subject and --password-file).
    #[arg(long, value_name = "NAME", requires = "admin_subject")]
    pub admin_provisioner: Option<String>,
    /// The admin's subject (`sub` of the admin tokens).
    #[arg(long, value_name = "SUBJECT", requires = "admin_provisioner")]
    pub admin_subject: Option<String>,
    /// The password of --admin-provisioner's key [default: asked on the terminal].
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl AdminArgs {
    async fn connect(&self) -> anyhow::Result<(Client, AdminAuth)> {
        let client = self.conn.client()?;
        let auth = match (
            &self.admin_cert,
            &self.admin_key,
            &self.admin_provisioner,
            &self.admin_subject,
        ) {
            (Some(cert), Some(key), _, _) => AdminAuth::Certificate(Box::new(
                Identity::from_files(cert, key, None)
                    .with_context(|| format!("reading {} and {}", cert.display(), key.display()))?,
            )),
            (_, _, Some(provisioner), Some(subject)) => {
                let password = super::password(
                    self.password_file.as_deref(),
                    &format!("Password of provisioner {provisioner:?}: "),
                )?;
                let (provisioner, key) =
                    client.provisioner_key(Some(provisioner), &password).await?;
                AdminAuth::Token {
                    provisioner,
                    key: Box::new(key),
                    subject: subject.clone(),
                }
            }
            _ => bail!(
                "authenticate as an admin with --admin-cert and --admin-key, or --admin-provisioner, --admin-subject and --password-file"
            ),
        };
        Ok((client, auth))
    }

    async fn call(&self, method: &str, route: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let (client, auth) = self.connect().await?;
        Ok(client.admin(&auth, method, route, body).await?)
    }
}

/// Provisioner types `mayfly ca provisioner add` creates.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One-time tokens signed by the provisioner's JWK.
    #[value(name = "JWK", alias = "jwk")]
    Jwk,
    /// ACME clients.
    #[value(name = "ACME", alias = "acme")]
    Acme,
}

/// Claims and ACME settings of `provisioner add|update` (an empty duration removes it).
#[derive(Args, Clone, Debug, Default)]
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
    /// ACME: require External Account Binding (`--require-eab=false` undoes).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub require_eab: Option<bool>,
}

impl Settings {
    /// Applies the flags to a provisioner document; returns whether any flag was given.
    fn apply(&self, provisioner: &mut Value) -> anyhow::Result<bool> {
        let mut changed = false;
        let durations = [
            ("minTLSCertDuration", &self.x509_min_dur),
            ("maxTLSCertDuration", &self.x509_max_dur),
            ("defaultTLSCertDuration", &self.x509_default_dur),
        ];
        for (key, value) in durations {
            let Some(value) = value else { continue };
            let claims = provisioner
                .as_object_mut()
                .context("the provisioner is not a JSON object")?
                .entry("claims")
                .or_insert_with(|| json!({}));
            let claims = claims
                .as_object_mut()
                .context("the provisioner's claims are not a JSON object")?;
            if value.is_empty() {
                claims.remove(key);
            } else {
                claims.insert(key.to_owned(), json!(value));
            }
            changed = true;
        }
        if let Some(require) = self.require_eab {
            provisioner["requireEAB"] = json!(require);
            changed = true;
        }
        Ok(changed)
    }
}

/// `mayfly ca provisioner add`.
#[derive(Args, Debug)]
pub struct ProvisionerAddArgs {
    /// The provisioner's name.
    pub name: String,
    /// The provisioner type.
    #[arg(long = "type", value_enum, default_value = "JWK")]
    pub kind: Kind,
    /// JWK: use this public JWK (JSON file) instead of creating a key pair.
    #[arg(long, value_name = "FILE")]
    pub public_key: Option<PathBuf>,
    /// JWK: the password encrypting the created key [default: asked on the terminal].
    #[arg(long, value_name = "FILE", conflicts_with = "public_key")]
    pub provisioner_password_file: Option<PathBuf>,
    /// Start from this provisioner document (JSON, as in ca.json's
    /// `authority.provisioners`, with its own `type`); NAME and the flags below apply on top.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["public_key", "provisioner_password_file"])]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `mayfly ca provisioner update`.
#[derive(Args, Debug)]
pub struct ProvisionerUpdateArgs {
    /// The provisioner to change.
    pub name: String,
    #[command(flatten)]
    pub settings: Settings,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `mayfly ca provisioner remove`.
#[derive(Args, Debug)]
pub struct ProvisionerRemoveArgs {
    /// The provisioner to remove.
    pub name: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `mayfly ca admin ...`.
#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// List the admins (JSON; SUPER_ADMIN only).
    List(AdminArgs),
    /// Add an admin: SUBJECT authenticated through PROVISIONER (SUPER_ADMIN only).
    Add(AdminAddArgs),
    /// Remove an admin by id or subject (SUPER_ADMIN only; never the last super admin).
    Remove(AdminRemoveArgs),
}

/// `mayfly ca admin add`.
#[derive(Args, Debug)]
pub struct AdminAddArgs {
    /// The admin's subject: a CN or SAN of its certificate, or `sub` of its tokens.
    pub subject: String,
    /// The provisioner its certificates or tokens come from.
    pub provisioner: String,
    /// Make it a SUPER_ADMIN (may manage admins).
    #[arg(long = "super")]
    pub super_admin: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `mayfly ca admin remove`.
#[derive(Args, Debug)]
pub struct AdminRemoveArgs {
    /// The admin's id, or its subject.
    pub id_or_subject: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `mayfly ca acme eab ...`.
#[derive(Subcommand, Debug)]
pub enum EabCommand {
    /// Create an EAB key for an ACME provisioner; prints its key id and HMAC key.
    Add(EabArgs),
    /// List an ACME provisioner's EAB keys (JSON).
    List(EabArgs),
    /// Remove an EAB key.
    Remove(EabRemoveArgs),
}

/// `mayfly ca acme eab add|list`.
#[derive(Args, Debug)]
pub struct EabArgs {
    /// The ACME provisioner.
    pub provisioner: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// `mayfly ca acme eab remove`.
#[derive(Args, Debug)]
pub struct EabRemoveArgs {
    /// The ACME provisioner.
    pub provisioner: String,
    /// The key id to remove.
    pub key_id: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

fn print(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A path segment the admin API can route (names travel unencoded in the URL path).
fn segment(what: &str, name: &str) -> anyhow::Result<String> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~@+:".contains(c))
    {
        bail!("{what} {name:?}: only letters, digits and -._~@+: can be managed remotely");
    }
    Ok(name.to_owned())
}

/// `mayfly ca provisioner add`.
pub async fn provisioner_add(args: ProvisionerAddArgs) -> anyhow::Result<()> {
    segment("provisioner name", &args.name)?;
    let mut provisioner = match (&args.from, args.kind) {
        (Some(path), _) => {
            let text =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let mut value: Value = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            value
                .as_object_mut()
                .with_context(|| format!("{} is not a JSON object", path.display()))?
                .insert("name".into(), json!(args.name));
            value
        }
        (None, kind) => new_provisioner(&args, kind)?,
    };
    args.settings.apply(&mut provisioner)?;
    let added = args
        .admin
        .call("POST", "/provisioners", Some(&provisioner))
        .await?;
    print(&added)
}

/// A fresh provisioner document of type `kind` from the flags of `provisioner add`.
fn new_provisioner(args: &ProvisionerAddArgs, kind: Kind) -> anyhow::Result<Value> {
    Ok(match kind {
        Kind::Acme => {
            if args.public_key.is_some() || args.provisioner_password_file.is_some() {
                bail!("--public-key and --provisioner-password-file are for JWK provisioners");
            }
            json!({"type": "ACME", "name": args.name})
        }
        Kind::Jwk => {
            if args.settings.require_eab.is_some() {
                bail!("--require-eab is for ACME provisioners");
            }
            match &args.public_key {
                Some(path) => {
                    let text = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?;
                    let jwk = mayfly_jwt::Jwk::from_json(&text)
                        .with_context(|| format!("{} is not a JWK", path.display()))?;
                    if jwk.is_private() {
                        bail!(
                            "{} holds a private key: give the public JWK",
                            path.display()
                        );
                    }
                    json!({"type": "JWK", "name": args.name, "key": jwk})
                }
                None => {
                    let password = super::password(
                        args.provisioner_password_file.as_deref(),
                        "Password for the new provisioner key: ",
                    )?;
                    let (public, encrypted) = mayfly_jwt::new_provisioner_key(&password)?;
                    json!({"type": "JWK", "name": args.name, "key": public, "encryptedKey": encrypted})
                }
            }
        }
    })
}

/// `mayfly ca provisioner update`: reads the provisioner, applies the flags, writes it back.
pub async fn provisioner_update(args: ProvisionerUpdateArgs) -> anyhow::Result<()> {
    let route = format!("/provisioners/{}", segment("provisioner name", &args.name)?);
    let mut provisioner = args.admin.call("GET", &route, None).await?;
    if !args.settings.apply(&mut provisioner)? {
        bail!("nothing to update: give a claim flag or --require-eab");
    }
    let updated = args.admin.call("PUT", &route, Some(&provisioner)).await?;
    print(&updated)
}

/// `mayfly ca provisioner remove`.
pub async fn provisioner_remove(args: ProvisionerRemoveArgs) -> anyhow::Result<()> {
    let route = format!("/provisioners/{}", segment("provisioner name", &args.name)?);
    args.admin.call("DELETE", &route, None).await?;
    println!("Removed provisioner {:?}.", args.name);
    Ok(())
}

/// `mayfly ca admin ...`.
pub async fn admin(command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::List(admin) => print(&admin.call("GET", "/admins", None).await?),
        AdminCommand::Add(args) => {
            let kind = if args.super_admin {
                "SUPER_ADMIN"
            } else {
                "ADMIN"
            };
            let body =
                json!({"subject": args.subject, "provisioner": args.provisioner, "type": kind});
            print(&args.admin.call("POST", "/admins", Some(&body)).await?)
        }
        AdminCommand::Remove(args) => {
            let route = format!("/admins/{}", segment("admin", &args.id_or_subject)?);
            let removed = args.admin.call("DELETE", &route, None).await?;
            print(&removed)
        }
    }
}

/// `mayfly ca acme eab ...`.
pub async fn eab(command: EabCommand) -> anyhow::Result<()> {
    match command {
        EabCommand::Add(args) => {
            let route = format!("/acme/eab/{}", segment("provisioner", &args.provisioner)?);
            print(&args.admin.call("POST", &route, Some(&json!({}))).await?)
        }
        EabCommand::List(args) => {
            let route = format!("/acme/eab/{}", segment("provisioner", &args.provisioner)?);
            print(&args.admin.call("GET", &route, None).await?)
        }
        EabCommand::Remove(args) => {
            let route = format!(
                "/acme/eab/{}/{}",
                segment("provisioner", &args.provisioner)?,
                segment("key id", &args.key_id)?
            );
            args.admin.call("DELETE", &route, None).await?;
            println!("Removed EAB key {:?}.", args.key_id);
            Ok(())
        }
    }
}
