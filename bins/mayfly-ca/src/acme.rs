//! `mayfly-ca acme eab add|list|remove`: EAB keys of a CA without remote management,
//! written straight to its database (a running CA sees them at once: it reads keys from the
//! store on every newAccount). With `enableAdmin`, use `mayfly ca acme eab` instead.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use mayfly_authority::config::{CaConfig, ProvisionerConfig};
use mayfly_store::{AcmeStore, Store};
use serde_json::json;

use crate::files::default_mayfly_path;

/// `mayfly-ca acme ...`.
#[derive(Subcommand, Debug)]
pub enum AcmeCommand {
    /// External account binding keys.
    #[command(subcommand)]
    Eab(EabCommand),
}

/// `mayfly-ca acme eab ...`.
#[derive(Subcommand, Debug)]
pub enum EabCommand {
    /// Create an EAB key for an ACME provisioner; prints its key id and HMAC key (JSON).
    Add(EabArgs),
    /// List an ACME provisioner's EAB keys (JSON).
    List(EabArgs),
    /// Remove an EAB key.
    Remove(EabRemoveArgs),
}

/// `eab add|list`.
#[derive(Args, Debug)]
pub struct EabArgs {
    /// The ACME provisioner.
    pub provisioner: String,
    /// ca.json [default: $MAYFLY_PATH/config/ca.json].
    #[arg(long, value_name = "FILE")]
    pub ca_config: Option<PathBuf>,
}

/// `eab remove`.
#[derive(Args, Debug)]
pub struct EabRemoveArgs {
    /// The ACME provisioner.
    pub provisioner: String,
    /// The key id to remove.
    pub key_id: String,
    /// ca.json [default: $MAYFLY_PATH/config/ca.json].
    #[arg(long, value_name = "FILE")]
    pub ca_config: Option<PathBuf>,
}

/// Runs one `acme` command.
pub fn run(command: AcmeCommand) -> anyhow::Result<()> {
    let AcmeCommand::Eab(command) = command;
    let (provisioner, ca_config) = match &command {
        EabCommand::Add(a) | EabCommand::List(a) => (&a.provisioner, &a.ca_config),
        EabCommand::Remove(a) => (&a.provisioner, &a.ca_config),
    };
    let path = match ca_config {
        Some(path) => path.clone(),
        None => default_mayfly_path()?.join("config").join("ca.json"),
    };
    let config = CaConfig::load(&path)?;
    if config.authority.enable_admin {
        bail!(
            "{} has enableAdmin: manage EAB keys with `mayfly ca acme eab` (the admin API)",
            path.display()
        );
    }
    if !config
        .authority
        .provisioners
        .iter()
        .any(|p| matches!(p, ProvisionerConfig::Acme(a) if a.name == *provisioner))
    {
        bail!(
            "{} has no ACME provisioner named {provisioner:?}",
            path.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let store = Store::open(&mayfly_authority::db_config(&config)?)
            .await
            .context("opening the database")?;
        match &command {
            EabCommand::Add(_) => {
                let (id, hmac) = mayfly_acme::add_eab_key(&store, provisioner).await?;
                let key = json!({"id": id, "provisioner": provisioner, "hmacKey": hmac});
                println!("{}", serde_json::to_string_pretty(&key)?);
            }
            EabCommand::List(_) => {
                let keys = mayfly_acme::eab_keys_json(&store, provisioner).await?;
                println!("{}", serde_json::to_string_pretty(&json!({"eaks": keys}))?);
            }
            EabCommand::Remove(args) => {
                if !store
                    .delete_eab_key(provisioner.clone(), args.key_id.clone())
                    .await?
                {
                    bail!(
                        "provisioner {provisioner:?} has no EAB key {:?}",
                        args.key_id
                    );
                }
                println!("Removed EAB key {:?}.", args.key_id);
            }
        }
        anyhow::Ok(())
    })
}
