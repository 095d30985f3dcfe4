//! Listeners and connections: the TLS API, the plain-HTTP CRL/OCSP listener and the metrics
//! listener; the connection limit, timeouts, reload and graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use mayfly_acme::{AcmeOptions, AcmeService};
use mayfly_authority::Authority;
use mayfly_authority::config::{CaConfig, LimitsConfig};
use mayfly_template::Certificate;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::ServerError;
use crate::api::{Api, Listener, Peer, reply};
use crate::metrics::Metrics;
use crate::proxy::ProxyPolicy;
use crate::tls::{ServerCertResolver, TlsPolicy, issue_server_certificate};

/// Limits and timeouts of the listeners.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// Open connections across all listeners; further clients wait in the kernel backlog.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake.
    pub handshake_timeout: Duration,
    /// Time allowed for a request's headers (HTTP/1).
    pub header_read_timeout: Duration,
    /// A connection with no traffic for this long is closed (after in-flight requests).
    pub idle_timeout: Duration,
    /// Largest request body accepted.
    pub body_limit: usize,
    /// How long shutdown waits for in-flight requests.
    pub drain_timeout: Duration,
    /// Lifetime of the server's own certificate (renewed at two thirds).
    pub server_cert_lifetime: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            body_limit: 1024 * 1024,
            drain_timeout: Duration::from_secs(30),
            server_cert_lifetime: crate::tls::SERVER_CERT_LIFETIME,
        }
    }
}

impl ServerOptions {
    /// These options with the members `limits` (ca.json's `limits`) sets; zero values are
    /// refused, naming the member.
    pub fn with_limits(mut self, limits: Option<&LimitsConfig>) -> Result<Self, ServerError> {
        let Some(l) = limits else {
            return Ok(self);
        };
        let positive = |name: &str, zero: bool| {
            if zero {
                Err(ServerError::Limits(format!(
                    "{name} must be greater than 0"
                )))
            } else {
                Ok(())
            }
        };
        if let Some(n) = l.max_body_bytes {
            positive("maxBodyBytes", n == 0)?;
            self.body_limit = n;
        }
        if let Some(n) = l.max_connections {
            positive("maxConnections", n == 0)?;
            self.max_connections = n;
        }
        for (name, value, slot) in [
            (
                "headerTimeout",
                l.header_timeout,
                &mut self.header_read_timeout,
            ),
            (
                "handshakeTimeout",
                l.handshake_timeout,
                &mut self.handshake_timeout,
            ),
            ("idleTimeout", l.idle_timeout, &mut self.idle_timeout),
        ] {
            if let Some(d) = value {
                positive(name, d.0.is_zero())?;
                *slot = d.0;
            }
        }
        Ok(self)
    }
}

/// State shared by the listeners and the [`ServerHandle`].
#[derive(Debug)]
struct Shared {
    api: Api,
    tls: RwLock<Arc<ServerConfig>>,
    proxy: RwLock<Option<Arc<ProxyPolicy>>>,
    resolver: Arc<ServerCertResolver>,
    trust: Vec<Certificate>,
    dns_names: RwLock<Vec<String>>,
    options: ServerOptions,
    shutdown: watch::Sender<bool>,
    connections: Arc<Semaphore>,
}

/// A bound, not yet running server. [`Server::run`] serves until [`ServerHandle::shutdown`].
#[derive(Debug)]
pub struct Server {
    shared: Arc<Shared>,
    api: TcpListener,
    insecure: Option<TcpListener>,
    metrics: Option<TcpListener>,
}

/// Controls a running server: reload its configuration, shut it down.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl Server {
    /// Issues the server's TLS certificate from the intermediate and binds `address`,
    /// `insecureAddress` and `metricsAddress` of `config`.
    pub async fn bind(
        authority: Arc<Authority>,
        config: &CaConfig,
        options: ServerOptions,
    ) -> Result<Self, ServerError> {
        let policy = TlsPolicy::from_config(config.tls.as_ref())?;
        let cert =
            issue_server_certificate(&authority, &config.dns_names, options.server_cert_lifetime)?;
        let resolver = Arc::new(ServerCertResolver::new(cert.key, cert.renew_at));
        let trust: Vec<Certificate> = authority
            .roots()
            .iter()
            .chain(authority.federated_roots())
            .chain(authority.intermediates())
            .cloned()
            .collect();
        let tls = policy.server_config(&trust, Arc::clone(&resolver))?;
        let proxy = ProxyPolicy::from_config(config.proxy_protocol.as_ref())?.map(Arc::new);
        let api = bind(&config.address).await?;
        let insecure = match &config.insecure_address {
            Some(a) if !a.is_empty() => Some(bind(a).await?),
            _ => None,
        };
        let metrics = match &config.metrics_address {
            Some(a) if !a.is_empty() => Some(bind(a).await?),
            _ => None,
        };
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            api: Api {
                acme: AcmeService::new(
                    Arc::clone(&authority),
                    AcmeOptions::from_store(authority.store())
                        .await
                        .map_err(|e| ServerError::Acme(e.to_string()))?,
                ),
                authority,
                metrics: Arc::new(Metrics::default()),
                body_limit: options.body_limit,
            },
            tls: RwLock::new(tls),
            proxy: RwLock::new(proxy),
            resolver,
            trust,
            dns_names: RwLock::new(config.dns_names.clone()),
            connections: Arc::new(Semaphore::new(options.max_connections)),
            options,
            shutdown,
        });
        Ok(Self {
            shared,
            api,
            insecure,
            metrics,
        })
    }

    /// The TLS API's bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.api.local_addr().ok()
    }

    /// The plain-HTTP CRL/OCSP listener's bound address, if configured.
    pub fn insecure_addr(&self) -> Option<SocketAddr> {
        self.insecure.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The metrics listener's bound address, if configured.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// A handle to reload or stop the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Serves until shutdown is requested, then stops accepting, lets in-flight requests
    /// finish (up to `drain_timeout`) and returns.
    pub async fn run(self) -> Result<(), ServerError> {
        let shared = self.shared;
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(accept_loop(Arc::clone(&shared), self.api, Kind::Api));
        if let Some(l) = self.insecure {
            tasks.spawn(accept_loop(Arc::clone(&shared), l, Kind::Insecure));
        }
        if let Some(l) = self.metrics {
            tasks.spawn(accept_loop(Arc::clone(&shared), l, Kind::Metrics));
        }
        tasks.spawn(renew_server_certificate(Arc::clone(&shared)));
        tasks.spawn(refresh_crl(Arc::clone(&shared)));
        if shared.api.authority.admin_enabled() {
            tasks.spawn(poll_registry(Arc::clone(&shared)));
        }
        while tasks.join_next().await.is_some() {}
        // Every connection holds a permit: having them all back means every connection closed.
        let all = u32::try_from(shared.options.max_connections).unwrap_or(u32::MAX);
        match tokio::time::timeout(
            shared.options.drain_timeout,
            shared.connections.acquire_many(all),
        )
        .await
        {
            Ok(_) => tracing::info!("all connections closed"),
            Err(_) => tracing::warn!(
                "drain timeout: {} connection(s) still open",
                shared.options.max_connections - shared.connections.available_permits()
            ),
        }
        Ok(())
    }
}

impl ServerHandle {
    /// Applies a new ca.json: TLS options, the server certificate's names, then the
    /// authority's provisioners, claims, policy and templates. Checked in full first: on
    /// error nothing changes and the old configuration keeps serving. Open connections are
    /// not dropped.
    pub fn reload(&self, config: &CaConfig) -> Result<(), ServerError> {
        let s = &self.shared;
        let policy = TlsPolicy::from_config(config.tls.as_ref())?;
        let tls = policy.server_config(&s.trust, Arc::clone(&s.resolver))?;
        let proxy = ProxyPolicy::from_config(config.proxy_protocol.as_ref())?.map(Arc::new);
        let names_changed = s
            .dns_names
            .read()
            .map(|n| *n != config.dns_names)
            .unwrap_or(true);
        let cert = if names_changed {
            Some(issue_server_certificate(
                &s.api.authority,
                &config.dns_names,
                s.options.server_cert_lifetime,
            )?)
        } else {
            None
        };
        s.api.authority.reload(config)?;
        if let Some(cert) = cert {
            s.resolver.replace(cert.key, cert.renew_at);
            if let Ok(mut names) = s.dns_names.write() {
                names.clone_from(&config.dns_names);
            }
        }
        if let Ok(mut guard) = s.tls.write() {
            *guard = tls;
        }
        if let Ok(mut guard) = s.proxy.write() {
            *guard = proxy;
        }
        tracing::info!(cipher_suites = ?policy.cipher_suite_names(), "configuration reloaded");
        Ok(())
    }

    /// Asks the server to stop accepting and drain.
    pub fn shutdown(&self) {
        self.shared.shutdown.send_replace(true);
    }

    /// The Prometheus text of the server's metrics.
    pub fn metrics(&self) -> String {
        self.shared.api.metrics.render()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Api,
    Insecure,
    Metrics,
}

async fn bind(address: &str) -> Result<TcpListener, ServerError> {
    // Go-style ":9000" means every interface.
    let target = if address.starts_with(':') {
        format!("0.0.0.0{address}")
    } else {
        address.to_owned()
    };
    TcpListener::bind(&target)
        .await
        .map_err(|source| ServerError::Bind {
            address: address.to_owned(),
            source,
        })
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, kind: Kind) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&shared.connections).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = stopped(&mut shutdown) => return,
        };
        let (tcp, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopped(&mut shutdown) => return,
        };
        let _ = tcp.set_nodelay(true);
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let _permit = permit;
            let activity = Arc::new(Activity::default());
            activity.touch();
            let mut io = Tracked {
                inner: tcp,
                activity: Arc::clone(&activity),
            };
            match kind {
                Kind::Api => {
                    let Some(config) = current_tls(&shared) else {
                        return;
                    };
                    let Some((addr, proxy)) = client_address(&shared, &mut io, addr).await else {
                        return;
                    };
                    let accept = TlsAcceptor::from(config).accept(io);
                    let stream = match tokio::time::timeout(
                        shared.options.handshake_timeout,
                        accept,
                    )
                    .await
                    {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(e)) => {
                            tracing::debug!(remote = %addr, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(remote = %addr, "TLS handshake timed out");
                            return;
                        }
                    };
                    let certificate = stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|der| mayfly_template::parse_certificate_der(der).ok())
                        .map(Arc::new);
                    let peer = Peer {
                        addr,
                        proxy,
                        certificate,
                    };
                    serve_http(&shared, FlushAlerts(stream), peer, Listener::Tls, &activity).await;
                }
                Kind::Insecure => {
                    let peer = Peer {
                        addr,
                        proxy: None,
                        certificate: None,
                    };
                    serve_http(&shared, io, peer, Listener::Insecure, &activity).await;
                }
                Kind::Metrics => serve_metrics(&shared, io, &activity).await,
            }
        });
    }
}

/// Resolves once shutdown has been requested.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The client a TLS connection from `peer` serves, and the load balancer it came through:
/// with `proxyProtocol` on, read from the PROXY header before the handshake. `None` (logged)
/// refuses the connection.
async fn client_address(
    shared: &Shared,
    io: &mut Tracked<tokio::net::TcpStream>,
    peer: SocketAddr,
) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let policy = shared.proxy.read().ok().and_then(|p| p.clone());
    let Some(policy) = policy else {
        return Some((peer, None));
    };
    match policy
        .client_address(io, peer, shared.options.handshake_timeout)
        .await
    {
        Ok(client) => Some((client, Some(peer))),
        Err(why) => {
            tracing::warn!(remote = %peer, "connection refused: {why}");
            None
        }
    }
}

fn current_tls(shared: &Shared) -> Option<Arc<ServerConfig>> {
    shared.tls.read().ok().map(|c| Arc::clone(&c))
}

fn builder(options: &ServerOptions) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(256)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

async fn serve_http<I>(
    shared: &Arc<Shared>,
    io: I,
    peer: Peer,
    listener: Listener,
    activity: &Activity,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let api_shared = Arc::clone(shared);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&api_shared);
        let peer = peer.clone();
        async move { Ok::<_, Infallible>(shared.api.serve(request, &peer, listener).await) }
    });
    let builder = builder(&shared.options);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    drive(shared, conn, activity).await;
}

async fn serve_metrics<I>(shared: &Arc<Shared>, io: I, activity: &Activity)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let metrics = Arc::clone(&shared.api.metrics);
    let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let metrics = Arc::clone(&metrics);
        async move {
            let response = if request.uri().path() == "/metrics" {
                reply(200, "text/plain; version=0.0.4", metrics.render().into())
            } else {
                reply(404, "text/plain", "only /metrics is served here\n".into())
            };
            Ok::<_, Infallible>(response)
        }
    });
    let builder = builder(&shared.options);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    drive(shared, conn, activity).await;
}

/// Runs a connection to completion; on shutdown or idleness, asks it to finish gracefully
/// (in-flight requests complete, keep-alive ends).
async fn drive<C>(shared: &Shared, conn: C, activity: &Activity)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    let mut conn = pin!(conn);
    let mut shutdown = shared.shutdown.subscribe();
    let idle = shared.options.idle_timeout;
    let mut closing = false;
    loop {
        let tick = tokio::time::sleep(Duration::from_secs(1).min(idle));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!("connection: {e}");
                }
                return;
            }
            () = stopped(&mut shutdown), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
            () = tick, if !closing => {
                if activity.idle_for() >= idle {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// When a connection last moved bytes.
#[derive(Debug, Default)]
struct Activity {
    last_ms: AtomicU64,
}

fn clock() -> &'static Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now)
}

impl Activity {
    fn touch(&self) {
        let now = u64::try_from(clock().elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = u64::try_from(clock().elapsed().as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(now.saturating_sub(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// A socket that records when it last read or wrote.
struct Tracked<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Tracked<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Tracked<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TLS stream that sends what rustls queued while reading (the `no_renegotiation` alert
/// answering a renegotiation attempt) instead of holding it until the next response.
struct FlushAlerts<T>(tokio_rustls::server::TlsStream<T>);

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for FlushAlerts<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.0).poll_read(cx, buf);
        if self.0.get_ref().1.wants_write() {
            // Pending only means the socket is full; the alert goes out with the next write.
            let _ = Pin::new(&mut self.0).poll_flush(cx);
        }
        result
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for FlushAlerts<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Renews the server's certificate at two thirds of its life; on failure retries each minute.
async fn renew_server_certificate(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        let wait = shared
            .resolver
            .renew_at()
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stopped(&mut shutdown) => return,
        }
        let names = shared
            .dns_names
            .read()
            .map(|n| n.clone())
            .unwrap_or_default();
        match issue_server_certificate(
            &shared.api.authority,
            &names,
            shared.options.server_cert_lifetime,
        ) {
            Ok(cert) => {
                shared.resolver.replace(cert.key, cert.renew_at);
                tracing::info!("server certificate renewed");
            }
            Err(e) => {
                tracing::error!("renewing the server certificate: {e}; retrying in 60 s");
                shared.resolver.postpone(Duration::from_secs(60));
            }
        }
    }
}

/// With remote management, follows the database's provisioners: another instance's change
/// applies here within one poll interval, without restart or SIGHUP.
async fn poll_registry(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    let authority = &shared.api.authority;
    loop {
        tokio::select! {
            () = tokio::time::sleep(authority.admin_poll_interval()) => {}
            () = stopped(&mut shutdown) => return,
        }
        match authority.sync_registry().await {
            Ok(true) => tracing::info!("provisioners reloaded from the database"),
            Ok(false) => {}
            Err(e) => tracing::error!(
                "reading provisioners from the database, the previous ones keep serving: {e}"
            ),
        }
    }
}

/// Regenerates the CRL when it is due, checking every minute.
async fn refresh_crl(shared: Arc<Shared>) {
    let mut shutdown = shared.shutdown.subscribe();
    loop {
        if let Err(e) = shared.api.authority.refresh_crl_if_due().await {
            tracing::error!("refreshing the CRL: {e}");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(60)) => {}
            () = stopped(&mut shutdown) => return,
        }
    }
}
