//! `mayfly ca revoke SERIAL`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use mayfly_client::{Identity, Revocation, RevokeAuth, TokenRequest, check_token_times};

use super::ConnArgs;
use super::issue::ProvisionerArgs;

/// Flags of `mayfly ca revoke`.
#[derive(Args)]
pub struct RevokeArgs {
    /// The serial number of the certificate (decimal, as `mayfly certificate inspect` prints).
    pub serial: String,
    /// Why (free text, recorded by the CA).
    #[arg(long, default_value = "")]
    pub reason: String,
    /// RFC 5280 reason code: 0 unspecified, 1 keyCompromise, 3 affiliationChanged,
    /// 4 superseded, 5 cessationOfOperation, ...
    #[arg(long, value_name = "CODE", default_value_t = 0)]
    pub reason_code: u8,
    /// A revoke token (`mayfly ca token SERIAL --revoke`); minted when neither it nor --cert
    /// is given.
    #[arg(long, value_name = "TOKEN", conflicts_with = "cert")]
    pub token: Option<String>,
    /// Authorise with mTLS: the certificate being revoked...
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<PathBuf>,
    /// ... and its private key.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub provisioner: ProvisionerArgs,
    #[command(flatten)]
    pub conn: ConnArgs,
}

/// Revokes the certificate.
pub async fn revoke(args: RevokeArgs) -> anyhow::Result<()> {
    if args.reason_code > 10 || args.reason_code == 7 {
        anyhow::bail!(
            "--reason-code {} is not an RFC 5280 CRLReason (0-10, not 7)",
            args.reason_code
        );
    }
    let client = args.conn.client()?;
    let revocation = Revocation {
        serial: args.serial.clone(),
        reason_code: args.reason_code,
        reason: args.reason.clone(),
    };
    match (&args.cert, &args.key, &args.token) {
        (Some(cert), Some(key), _) => {
            let identity = Identity::from_files(cert, key, None)
                .with_context(|| format!("reading {} and {}", cert.display(), key.display()))?;
            client
                .revoke(&revocation, RevokeAuth::Certificate(&identity))
                .await?;
        }
        (_, _, Some(token)) => {
            check_token_times(token, std::time::SystemTime::now())?;
            client
                .revoke(&revocation, RevokeAuth::Token(token.trim()))
                .await?;
        }
        _ => {
            let token = args
                .provisioner
                .mint(&client, &TokenRequest::revoke(&args.serial))
                .await?;
            client
                .revoke(&revocation, RevokeAuth::Token(&token))
                .await?;
        }
    }
    eprintln!(
        "Certificate with serial number {} has been revoked.",
        args.serial
    );
    Ok(())
}
