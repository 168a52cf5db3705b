//! Start-up and shutdown: load everything that can be wrong before listening (certificates,
//! policies, the state file), then serve admission over TLS and metrics over plain HTTP, and on
//! SIGTERM fail readiness and let in-flight reviews finish.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, anyhow};
use axum_server::tls_rustls::RustlsConfig;
use secretkms_alibaba::credentials::{DefaultChain, Environment};
use secretkms_core::policy::{
    CacheDir, CachedKeyLookup, KeyCacheConfig, PolicyConfig, PolicyRuntime, RuntimeConfig,
};
use tokio::sync::Semaphore;
use tracing_subscriber::EnvFilter;

use crate::admission::BodyBudget;
use crate::app::{self, App};
use crate::args::{Args, LogFormat};
use crate::connection_cap::{self, ConnectionCap};
use crate::key_lookup::KmsKeyLookup;
use crate::metrics::{Metrics, Port};
use crate::sources::{self, StateHub};
use crate::{memory_budget, tls, weakening};

/// Runs the webhook until SIGTERM or SIGINT.
pub fn run(args: Args) -> anyhow::Result<()> {
    init_logging(&args.log, args.log_format)?;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the async runtime")?
        .block_on(serve(args))
}

async fn serve(args: Args) -> anyhow::Result<()> {
    // Exhaustive on purpose: a new flag that is not wired up fails to compile.
    let Args {
        listen,
        metrics_listen,
        tls_cert_file,
        tls_key_file,
        client_ca_file,
        cert_reload_interval,
        policy_config,
        policy_cache_dir,
        state_file,
        allow_weakening,
        state_file_interval,
        apiserver_probe,
        apiserver_probe_interval,
        secret_writers,
        canary_secret,
        kubeconfig,
        watch_secret_encryption,
        kms_endpoint,
        kms_vpc,
        kms_poll_interval,
        status_writeback,
        status_interval,
        pod_name,
        max_concurrent_evaluations,
        max_body_bytes,
        max_connections,
        header_read_timeout,
        default_timeout,
        shutdown_grace,
        log: _,
        log_format: _,
    } = args;
    let started = std::time::Instant::now();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    secretkms_alibaba::install_crypto_provider();

    let certs = Arc::new(tls::CertReloader::load(
        &tls_cert_file,
        &tls_key_file,
        provider.clone(),
    )?);
    let tls_config = tls::server_config(certs.resolver(), client_ca_file.as_deref(), provider)?;

    // LoadError names the file, the policy and the field; its source (an OS error) is kept in
    // the chain and printed once by `main`'s `{:#}`.
    let config = match &policy_config {
        Some(path) => PolicyConfig::from_file(path)?,
        None => PolicyConfig::builtin(),
    };
    let limit_bytes = memory_budget::cgroup_limit(std::path::Path::new("/sys/fs/cgroup"));
    let budget = memory_budget::plan(memory_budget::Inputs {
        limit_bytes,
        evaluations: max_concurrent_evaluations.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
        }),
        guest_bytes: config
            .policies
            .iter()
            .map(|p| p.memory_limit_bytes)
            .max()
            .unwrap_or(0),
        max_body_bytes,
    })?;
    tracing::info!(
        memory_limit_bytes = limit_bytes,
        evaluations = budget.evaluations,
        body_bytes = budget.body_bytes,
        "memory budget"
    );
    let concurrency = budget.evaluations;
    let runtime = PolicyRuntime::new(RuntimeConfig {
        max_instances: u32::try_from(concurrency * 2).unwrap_or(u32::MAX).max(8),
        cache: match policy_cache_dir.as_deref() {
            None => CacheDir::Default,
            Some("off") => CacheDir::Disabled,
            Some(dir) => CacheDir::At(PathBuf::from(dir)),
        },
        ..Default::default()
    })?;
    let config_origin = policy_config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    // describe-key for the key-change policy: the KMS client the poller builds, behind a cache.
    let kms_client: sources::kms::SharedClient = Default::default();
    let key_lookup = CachedKeyLookup::new(
        KmsKeyLookup::new(kms_client.clone()),
        KeyCacheConfig::default(),
    );
    let policies = runtime
        .load(&config, Arc::new(key_lookup))
        .with_context(|| format!("loading the policies of {config_origin}"))?;
    tracing::info!(
        policies = %policies.policies().map(|p| p.name).collect::<Vec<_>>().join(","),
        config = %config_origin,
        "policies loaded"
    );
    // After loading, so that a broken policy is reported as such first.
    let weakenings = weakening::find(state_file.as_deref(), &config, &config_origin);
    weakening::check(&weakenings, &allow_weakening)?;
    for w in &weakenings {
        tracing::warn!(weakening = %w, "the guard is weakened (accepted by --allow-weakening)");
    }

    let hub = Arc::new(StateHub::default());
    let metrics = Arc::new(Metrics::new());
    metrics.weakened(&weakenings);
    if let Some(path) = &state_file {
        let hash = sources::state_file::load(path, &hub)?;
        tokio::spawn(sources::state_file::watch(
            path.clone(),
            hash,
            state_file_interval,
            hub.clone(),
        ));
    }
    let needs_apiserver = apiserver_probe || watch_secret_encryption || status_writeback;
    // A configured source is expected from the start: until its first answer, the guard denies
    // for it by name rather than deciding on the state file or the other sources alone.
    hub.update(|o| {
        if apiserver_probe {
            o.apiserver.expect();
        }
        if watch_secret_encryption {
            o.declared.expect();
        }
    });
    let kube = if needs_apiserver {
        match kube_client(kubeconfig.as_ref()).await {
            Ok(client) => Some(client),
            Err(e) => {
                let msg = format!("cannot reach the apiserver: {e:#}");
                tracing::warn!("{msg}");
                hub.update(|o| {
                    if apiserver_probe {
                        o.apiserver.fail(msg.clone());
                    }
                    if watch_secret_encryption {
                        o.declared.fail(msg.clone());
                    }
                });
                None
            }
        }
    } else {
        None
    };
    if let Some(client) = &kube {
        if apiserver_probe {
            tokio::spawn(sources::apiserver::watch(
                client.clone(),
                apiserver_probe_interval,
                sources::apiserver::WriterSettings {
                    enabled: secret_writers,
                    canary: canary_secret,
                },
                hub.clone(),
                metrics.clone(),
            ));
        }
        if watch_secret_encryption {
            let (spec_tx, spec_rx) = tokio::sync::watch::channel(None);
            tokio::spawn(sources::declared::watch(
                client.clone(),
                hub.clone(),
                spec_tx,
                metrics.clone(),
            ));
            let settings = sources::kms::KmsSettings {
                endpoint: kms_endpoint,
                vpc: kms_vpc,
                interval: kms_poll_interval,
                credentials: Arc::new(DefaultChain::cached(&Environment::from_process())),
            };
            tokio::spawn(sources::kms::watch(
                spec_rx,
                settings,
                kms_client,
                hub.clone(),
                metrics.clone(),
            ));
        }
        if status_writeback {
            tokio::spawn(crate::status_writer::run(
                client.clone(),
                hub.clone(),
                status_interval,
                pod_name,
            ));
        }
    }

    tokio::spawn(certs.clone().watch(cert_reload_interval, metrics.clone()));
    let app = Arc::new(App {
        policies: Arc::new(policies),
        state: hub,
        metrics,
        evaluations: Arc::new(Semaphore::new(concurrency)),
        large_evaluations: Arc::new(Semaphore::new(crate::app::large_share(concurrency))),
        bodies: BodyBudget::new(budget.body_bytes),
        default_timeout,
        max_body_bytes,
        weakenings,
        shutting_down: Default::default(),
    });

    let handle = axum_server::Handle::new();
    if let Some(addr) = metrics_listen {
        let listener =
            TcpListener::bind(addr).with_context(|| format!("binding the metrics port {addr}"))?;
        listener.set_nonblocking(true)?;
        tracing::info!(address = %listener.local_addr()?, "metrics listening (http)");
        let router = app::metrics_router(app.clone());
        // Not under the shutdown handle: during the grace period it keeps answering /readyz
        // (not ready) and /metrics.
        let mut server = axum_server::from_tcp(listener)?.acceptor(ConnectionCap::new(
            max_connections,
            Port::Metrics,
            app.metrics.clone(),
        ));
        connection_cap::limit_headers(server.http_builder(), header_read_timeout);
        tokio::spawn(async move {
            if let Err(e) = server.serve(router.into_make_service()).await {
                tracing::error!(error = %e, "metrics server stopped");
            }
        });
    }
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("binding the admission port {listen}"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let cap = ConnectionCap::new(max_connections, Port::Admission, app.metrics.clone());
    let mut server =
        axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(Arc::new(tls_config)))?
            .map(|tls| tls.acceptor(cap))
            .handle(handle.clone());
    // The apiserver keeps connections to webhooks alive (and closes its idle ones after 90 s).
    server
        .http_builder()
        .http1()
        .keep_alive(true)
        .max_buf_size(max_body_bytes.max(64 << 10) + (64 << 10));
    connection_cap::limit_headers(server.http_builder(), header_read_timeout);
    tokio::spawn(shutdown_on_signal(app.clone(), handle, shutdown_grace));
    tracing::info!(
        address = %bound,
        ready_in_ms = started.elapsed().as_millis() as u64,
        "admission webhook listening (https)"
    );
    server
        .serve(app::router(app).into_make_service())
        .await
        .context("serving admission")?;
    tracing::info!("stopped");
    Ok(())
}

async fn kube_client(kubeconfig: Option<&PathBuf>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

async fn shutdown_on_signal(
    app: Arc<App>,
    handle: axum_server::Handle<std::net::SocketAddr>,
    grace: std::time::Duration,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    tracing::info!(
        grace_secs = grace.as_secs(),
        "shutting down: readiness off, finishing in-flight reviews"
    );
    app.shutting_down.store(true, Ordering::Relaxed);
    handle.graceful_shutdown(Some(grace));
}

fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter =
        EnvFilter::try_new(filter).with_context(|| format!("invalid log filter {filter:?}"))?;
    use std::io::IsTerminal as _;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow!("initialising logging: {e}"))
}
