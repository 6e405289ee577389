//! Building and running the application: config → store (migrated) → providers → router, served on an injected
//! listener (tests bind port 0) and, with `server.admin_listen`, the admin routes on a second listener, until a
//! shutdown signal, then drained within the configured grace; the
//! deferred-command executor, the outbox relay, the pruning task and (with `[cluster]`) the Redis supervisor run
//! beside it.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Runtime, ServerConfig};
use crate::http::auth::{AdminToken, Callers};
use crate::http::{AppState, Shared, admin_router, public_router, router};
use crate::providers::Providers;
use crate::store::{self, Store};
use crate::upstream::rate_limit::CallerLimits;

pub struct Application {
    listener: TcpListener,
    /// `server.admin_listen`'s listener, serving the admin routes alone; absent, they are on `listener`.
    admin_listener: Option<TcpListener>,
    state: AppState,
    relay: Arc<crate::relay::Relay>,
    /// The Redis that shares rate limits between replicas (`[cluster]`), whose supervisor runs in the background.
    cluster: Option<Arc<crate::cluster::Cluster>>,
}

impl Application {
    /// Opens and migrates the store and builds every provider. `listener` overrides `server.listen`.
    pub async fn build(config: Config, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let cluster = config.cluster.as_ref().map(crate::cluster::Cluster::new).transpose();
        let cluster = cluster.context("invalid configuration")?;
        let providers = Providers::build_with_cluster(&config, cluster.as_ref()).context("invalid configuration")?;
        let sagas = crate::sagas::Definitions::build(&config.sagas, &providers).context("invalid configuration")?;
        let caller_limits = Arc::new(CallerLimits::new(&config.callers, cluster.as_ref()));
        crate::metrics::install();
        for key in config.literal_secrets() {
            tracing::warn!(%key, "literal secret in the config; use \"env:NAME\" or \"file:PATH\" outside development");
        }
        for warning in crate::providers::warnings(&config) {
            tracing::warn!("{warning}");
        }
        if let Some(warning) = crate::config::exposed_development_credentials(&config) {
            tracing::warn!("{warning}");
        }
        let store = store::open(&config.store).await.context("cannot open the store")?;
        store.migrate().await.context("cannot migrate the store")?;
        let relay_wake = Arc::new(tokio::sync::Notify::new());
        let relay = crate::relay::Relay::build(&config, Arc::clone(&store), Arc::clone(&relay_wake))
            .context("invalid configuration")?;
        let listener = match listener {
            Some(listener) => listener,
            None => TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("cannot listen on {}", config.server.listen))?,
        };
        let admin_listener = match config.server.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (server.admin_listen)"))?,
            ),
            None => None,
        };
        let commands_wake = Arc::new(tokio::sync::Notify::new());
        let sagas_wake = Arc::new(tokio::sync::Notify::new());
        store.watch(store::Wakes {
            relay: Arc::clone(&relay_wake),
            commands: Arc::clone(&commands_wake),
            sagas: Arc::clone(&sagas_wake),
        });
        let config = Arc::new(config);
        let providers = Arc::new(providers);
        let read_model = crate::read_model::ReadModel::new(Arc::clone(&store));
        let calls = Arc::new(crate::calls::Calls {
            background: tokio::runtime::Handle::current(),
            read_model,
            providers: Arc::clone(&providers),
            store: Arc::clone(&store),
            config: Arc::clone(&config),
            caller_limits: Arc::clone(&caller_limits),
            commands_wake: Arc::clone(&commands_wake),
        });
        Ok(Self {
            listener,
            admin_listener,
            relay,
            cluster,
            state: AppState::new(Shared {
                callers: Arc::new(Callers::from_config(&config.callers)),
                caller_limits,
                admin: Arc::new(AdminToken::from_config(config.admin.as_ref())),
                commands_wake,
                relay_wake,
                config,
                providers,
                store,
                calls,
                sagas: Arc::new(sagas),
                sagas_wake,
            }),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The admin listener's address, when `server.admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.state.store)
    }

    /// Serves until `shutdown` completes; then stops accepting, gives in-flight requests `server.shutdown_grace`,
    /// and lets the store finish every queued commit before returning.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let grace = self.state.config.server.shutdown_grace;
        let store = Arc::clone(&self.state.store);
        let addr = self.local_addr()?;
        let stopping = CancellationToken::new();
        let trigger = stopping.clone();
        tokio::spawn(async move {
            shutdown.await;
            trigger.cancel();
        });
        tracing::info!(%addr, "gatehouse listening");
        let server = self.state.config.server.clone();
        let background = self.spawn_background(stopping.clone());
        // The read model's writer stops last: requests and commands observe answers until they have finished.
        let writer_stop = CancellationToken::new();
        let writer = tokio::spawn(Arc::clone(&self.state.calls.read_model).run(writer_stop.clone()));
        // Both listeners stop accepting together and drain within the same grace.
        let serve = async {
            match self.admin_listener {
                Some(admin) => {
                    if let Ok(admin_addr) = admin.local_addr() {
                        tracing::info!(%admin_addr, "admin routes listening");
                    }
                    let public = public_router(self.state.clone());
                    let admin_app = admin_router(self.state);
                    let (served, ()) = tokio::join!(
                        serve_public(self.listener, public, &server, stopping.clone()),
                        crate::serve::serve(admin, admin_app, &server, stopping.clone()),
                    );
                    served
                }
                None => serve_public(self.listener, router(self.state), &server, stopping.clone()).await,
            }
        };
        let deadline = async {
            stopping.cancelled().await;
            tracing::info!(?grace, "shutting down: draining in-flight requests");
            tokio::time::sleep(grace).await;
        };
        let mut failed = None;
        tokio::select! {
            served = serve => failed = served.err(),
            () = deadline => tracing::warn!("shutdown grace expired with requests still in flight"),
        }
        // The executor finishes (or leaves to its lease) what it runs within the same grace.
        let _ = tokio::time::timeout(grace, background.join_all()).await;
        writer_stop.cancel();
        let _ = tokio::time::timeout(grace, writer).await;
        store.shutdown().await;
        tracing::info!("gatehouse stopped");
        match failed {
            Some(error) => Err(anyhow::Error::from(error).context(format!("cannot serve {addr}"))),
            None => Ok(()),
        }
    }

    /// The deferred-command and saga executors, the relay, the pruning task and the cluster's supervisor, stopped by `stop`.
    fn spawn_background(&self, stop: CancellationToken) -> tokio::task::JoinSet<()> {
        let state = &self.state;
        let mut tasks = tokio::task::JoinSet::new();
        if let Some(cluster) = &self.cluster {
            tasks.spawn(Arc::clone(cluster).run(stop.clone()));
        }
        let executor = crate::commands::Executor::new(
            Arc::clone(&state.calls),
            state.config.commands.clone(),
            Arc::clone(&state.commands_wake),
            state.config.subscriptions.clone(),
            Arc::clone(&state.relay_wake),
        );
        tasks.spawn(executor.run(stop.clone(), state.config.server.shutdown_grace));
        let sagas = crate::sagas::SagaExecutor::new(
            Arc::clone(&state.calls),
            Arc::clone(&state.sagas),
            state.config.commands.clone(),
            Arc::clone(&state.sagas_wake),
            state.config.subscriptions.clone(),
            Arc::clone(&state.relay_wake),
        );
        tasks.spawn(sagas.run(stop.clone(), state.config.server.shutdown_grace));
        if state.config.relay.enabled {
            tasks.spawn(Arc::clone(&self.relay).run(stop.clone(), state.config.server.shutdown_grace));
        } else {
            tracing::info!("relay.enabled = false: this gateway stores events; `gatehouse relay` delivers them");
        }
        tasks.spawn(crate::prune::run(
            Arc::clone(&state.store),
            Arc::clone(&state.config),
            stop,
        ));
        tasks
    }
}

/// Serves the public listener as `server.runtime` says; an error (a per-core thread that could not start or
/// stopped on its own) has already stopped the gateway.
async fn serve_public(
    listener: TcpListener,
    app: axum::Router,
    server: &ServerConfig,
    stopping: CancellationToken,
) -> std::io::Result<()> {
    match server.runtime {
        Runtime::Shared => {
            crate::serve::serve(listener, app, server, stopping).await;
            Ok(())
        }
        Runtime::PerCore => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            crate::serve::serve_per_core(listener, app, server, stopping, cores).await
        }
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {},
            _ = terminate.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
