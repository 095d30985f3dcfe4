//! `mayfly ca bootstrap`, `roots`, `provisioner list` and `health`.

use anyhow::Context;
use clap::Args;
use mayfly_client::{Client, Defaults, mayfly_path};

use super::ConnArgs;

/// Flags of `mayfly ca bootstrap`.
#[derive(Args)]
pub struct BootstrapArgs {
    /// The CA URL, `https://HOST[:PORT]`.
    #[arg(long, value_name = "URL")]
    pub ca_url: String,
    /// The SHA-256 fingerprint of the CA's root (printed by `mayfly-ca init`).
    #[arg(long, value_name = "FP")]
    pub fingerprint: String,
    /// Replace an existing root file and defaults.json.
    #[arg(long)]
    pub force: bool,
}

/// Fetches and pins the root, then writes `certs/root_ca.crt` and `config/defaults.json`.
pub async fn bootstrap(args: BootstrapArgs) -> anyhow::Result<()> {
    let client = Client::bootstrap(&args.ca_url, &args.fingerprint).await?;
    let base = mayfly_path()?;
    let root_path = base.join("certs").join("root_ca.crt");
    let pem = mayfly_template::certificate_to_pem(client.root())?;
    let same = std::fs::read_to_string(&root_path).is_ok_and(|old| old == pem);
    if !same {
        mayfly_keys::write_public_file(&root_path, pem.as_bytes(), args.force).with_context(
            || {
                format!(
                    "writing {} (pass --force to replace it)",
                    root_path.display()
                )
            },
        )?;
    }
    let defaults = Defaults {
        ca_url: client.url().to_string(),
        fingerprint: client.fingerprint().to_owned(),
        root: root_path.clone(),
        ca_config: None,
        redirect_url: None,
    };
    let defaults_path = Defaults::path(&base);
    if !args.force && defaults_path.exists() && !same {
        anyhow::bail!(
            "{} exists for another CA: pass --force to replace it",
            defaults_path.display()
        );
    }
    defaults.save(&defaults_path)?;
    eprintln!(
        "The root certificate has been saved in {}.",
        root_path.display()
    );
    eprintln!(
        "The authority configuration has been saved in {}.",
        defaults_path.display()
    );
    Ok(())
}

/// Prints every root the CA trusts.
pub async fn roots(conn: ConnArgs) -> anyhow::Result<()> {
    for root in conn.client()?.roots().await? {
        print!("{}", mayfly_template::certificate_to_pem(&root)?);
    }
    Ok(())
}

/// Prints the provisioners as a JSON array.
pub async fn provisioners(conn: ConnArgs) -> anyhow::Result<()> {
    let list = conn.client()?.provisioners().await?;
    println!("{}", serde_json::to_string_pretty(&list)?);
    Ok(())
}

/// Prints `ok` when the CA answers its health check over the trusted root.
pub async fn health(conn: ConnArgs) -> anyhow::Result<()> {
    conn.client()?.health().await?;
    println!("ok");
    Ok(())
}
