//! [`Renewer`]: keeps a certificate fresh. Renews over mTLS at 2/3 of its lifetime (minus
//! jitter), retries with exponential backoff while the CA is unreachable, writes the new
//! certificate atomically, then notifies (hot-swap resolver, `--exec` hook, signal to a PID).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mayfly_keys::Password;

use crate::{CertResolver, Client, ClientError, Identity, SignedCertificate};

/// When to renew a certificate valid from `not_before` to `not_after`: at 2/3 of its
/// lifetime, earlier by `jitter` (a fraction in `0.0..=1.0` of 1/20 of the lifetime, so
/// a fleet issued at once does not renew at once).
pub fn renewal_time(not_before: SystemTime, not_after: SystemTime, jitter: f64) -> SystemTime {
    let lifetime = not_after.duration_since(not_before).unwrap_or_default();
    let spread = lifetime.div_f64(20.0).mul_f64(jitter.clamp(0.0, 1.0));
    not_before + lifetime.mul_f64(2.0 / 3.0) - spread
}

/// A uniform random fraction in `0.0..1.0`.
fn random_fraction() -> f64 {
    let bits = u64::from_be_bytes(mayfly_keys::random_bytes::<8>()) >> 11;
    bits as f64 / (1u64 << 53) as f64
}

/// Exponential backoff between `min` and `max`.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `min`, doubles each time, never above `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self { next: min, max }
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        delay
    }
}

/// What to do after each renewal besides writing the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notify {
    /// Run this command with `sh -c` (e.g. `systemctl reload nginx`).
    Exec(String),
    /// Send a signal (`HUP`, `USR1`, ...) to a process with `kill -s`.
    Signal {
        /// The process id.
        pid: u32,
        /// The signal name without `SIG`, or its number.
        signal: String,
    },
}

impl Notify {
    /// A signal notification (`HUP`, `SIGHUP` or `1`), refusing what cannot be a signal.
    pub fn signal(pid: u32, signal: &str) -> Result<Self, ClientError> {
        let name = signal.trim_start_matches("SIG").to_ascii_uppercase();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(ClientError::Hook {
                command: format!("kill -s {signal} {pid}"),
                reason: "not a signal name (use HUP, USR1, TERM, ...)".into(),
            });
        }
        Ok(Self::Signal { pid, signal: name })
    }

    async fn run(&self) -> Result<(), ClientError> {
        let (command, mut process) = match self {
            Self::Exec(cmd) => {
                let mut p = tokio::process::Command::new("sh");
                p.arg("-c").arg(cmd);
                (cmd.clone(), p)
            }
            Self::Signal { pid, signal } => {
                let mut p = tokio::process::Command::new("kill");
                p.arg("-s").arg(signal).arg(pid.to_string());
                (format!("kill -s {signal} {pid}"), p)
            }
        };
        let status = process.status().await.map_err(|e| ClientError::Hook {
            command: command.clone(),
            reason: e.to_string(),
        })?;
        if status.success() {
            Ok(())
        } else {
            Err(ClientError::Hook {
                command,
                reason: format!("exited with {status}"),
            })
        }
    }
}

/// Keeps one certificate fresh: see the module docs.
#[derive(Debug)]
pub struct Renewer {
    client: Client,
    identity: Identity,
    /// When the held certificate was obtained: its notBefore, or the time of our renewal
    /// (CAs backdate notBefore, which would otherwise pull renewals of short-lived
    /// certificates to the moment they are issued).
    obtained: SystemTime,
    cert_path: Option<PathBuf>,
    resolver: Option<Arc<CertResolver>>,
    notify: Vec<Notify>,
    retry_min: Duration,
    retry_max: Duration,
    jitter: f64,
}

impl Renewer {
    /// A renewer for `identity` (kept in memory only until files or a resolver are added).
    pub fn new(client: Client, identity: Identity) -> Self {
        let (obtained, _) = identity.certificate().validity();
        Self {
            client,
            identity,
            obtained,
            cert_path: None,
            resolver: None,
            notify: Vec::new(),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            jitter: random_fraction(),
        }
    }

    /// A renewer for the certificate bundle at `cert` and the key at `key`; renewals are
    /// written back to `cert` (the key does not change).
    pub fn from_files(
        client: Client,
        cert: &Path,
        key: &Path,
        password: Option<&Password>,
    ) -> Result<Self, ClientError> {
        let identity = Identity::from_files(cert, key, password)?;
        Ok(Self::new(client, identity).with_certificate_file(cert))
    }

    /// Writes each renewed certificate bundle to `path` (atomically: temp file + rename).
    pub fn with_certificate_file(mut self, path: &Path) -> Self {
        self.cert_path = Some(path.to_path_buf());
        self
    }

    /// Updates `resolver` after each renewal (in-process hot swap).
    pub fn with_resolver(mut self, resolver: Arc<CertResolver>) -> Self {
        self.resolver = Some(resolver);
        self
    }

    /// Runs `notify` after each renewal.
    pub fn with_notify(mut self, notify: Notify) -> Self {
        self.notify.push(notify);
        self
    }

    /// Retries a failed renewal after `min`, doubling up to `max` (default 1 s to 60 s).
    pub fn with_retry(mut self, min: Duration, max: Duration) -> Self {
        self.retry_min = min;
        self.retry_max = max.max(min);
        self
    }

    /// The certificate now held.
    pub fn certificate(&self) -> &SignedCertificate {
        self.identity.certificate()
    }

    /// When the next renewal is due: 2/3 of the way from when the certificate was obtained
    /// (its notBefore, or our renewal if later) to its notAfter, less jitter.
    pub fn next_renewal(&self) -> SystemTime {
        let (from, to) = self.certificate().validity();
        renewal_time(from.max(self.obtained), to, self.jitter)
    }

    /// Renews now: over mTLS, then writes the file, updates the resolver and runs the
    /// notifications (their failures are logged, not returned: the certificate is renewed).
    pub async fn renew_now(&mut self) -> Result<&SignedCertificate, ClientError> {
        let renewed = self.client.renew(&self.identity).await?;
        self.obtained = SystemTime::now();
        if let Some(path) = &self.cert_path {
            mayfly_keys::write_public_file(path, renewed.to_pem()?.as_bytes(), true)?;
        }
        self.identity = Identity::new(renewed, self.identity.key().clone())?;
        if let Some(resolver) = &self.resolver {
            resolver.update(&self.identity)?;
        }
        let (_, not_after) = self.certificate().validity();
        tracing::info!(
            serial = %self.certificate().serial_decimal(),
            not_after = ?not_after,
            "certificate renewed"
        );
        for notify in &self.notify {
            if let Err(e) = notify.run().await {
                tracing::warn!("{e}");
            }
        }
        self.jitter = random_fraction();
        Ok(self.certificate())
    }

    /// Renews forever, each time at [`Self::next_renewal`]; returns when `shutdown`
    /// completes, or with an error when the CA refuses the renewal (revoked, ...) or the
    /// certificate expired before the CA could be reached.
    pub async fn run(
        mut self,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), ClientError> {
        tokio::pin!(shutdown);
        loop {
            let wait = self
                .next_renewal()
                .duration_since(SystemTime::now())
                .unwrap_or_default();
            tracing::info!("next renewal in {} s", wait.as_secs());
            tokio::select! {
                () = &mut shutdown => return Ok(()),
                () = tokio::time::sleep(wait) => {}
            }
            let mut backoff = Backoff::new(self.retry_min, self.retry_max);
            loop {
                match self.renew_now().await {
                    Ok(_) => break,
                    Err(e) if e.is_transient() => {
                        let (_, not_after) = self.certificate().validity();
                        if SystemTime::now() >= not_after {
                            return Err(ClientError::Certificate(format!(
                                "expired while the CA was unreachable ({e}); get a new one with `mayfly ca certificate`"
                            )));
                        }
                        let delay = backoff.next_delay();
                        tracing::warn!(
                            "renewal failed, retrying in {} s: {e}",
                            delay.as_secs_f32()
                        );
                        tokio::select! {
                            () = &mut shutdown => return Ok(()),
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renews_at_two_thirds_minus_jitter() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let end = start + Duration::from_secs(24 * 3600);
        assert_eq!(
            renewal_time(start, end, 0.0),
            start + Duration::from_secs(16 * 3600)
        );
        // Full jitter: 1/20 of 24 h = 72 min earlier.
        assert_eq!(
            renewal_time(start, end, 1.0),
            start + Duration::from_secs(16 * 3600 - 72 * 60)
        );
        let f = random_fraction();
        assert!((0.0..1.0).contains(&f));
        let at = renewal_time(start, end, f);
        assert!(at <= start + Duration::from_secs(16 * 3600));
        assert!(at >= start + Duration::from_secs(16 * 3600 - 72 * 60));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(5));
        let delays: Vec<u64> = (0..5).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 5, 5]);
    }

    #[test]
    fn signal_names_are_checked() {
        assert_eq!(
            Notify::signal(42, "SIGHUP").unwrap(),
            Notify::Signal {
                pid: 42,
                signal: "HUP".into()
            }
        );
        assert!(Notify::signal(42, "HUP; rm -rf /").is_err());
        assert!(Notify::signal(42, "").is_err());
    }

    #[tokio::test]
    async fn hooks_run_and_report_failures() {
        let dir = mayfly_testkit::temp_dir();
        let marker = dir.path().join("ran");
        Notify::Exec(format!("touch {}", marker.display()))
            .run()
            .await
            .unwrap();
        assert!(marker.exists());
        let err = Notify::Exec("exit 3".into()).run().await.unwrap_err();
        assert!(err.to_string().contains("exit status: 3"), "{err}");

        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        Notify::signal(child.id(), "TERM")
            .unwrap()
            .run()
            .await
            .unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success(), "sleep was killed by SIGTERM");
    }
}
