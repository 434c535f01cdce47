//! Building the server: the same for `main`, the tests and the benchmarks.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use storage::Store;
use utoipa_actix_web::AppExt;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::config::ServerConfig;
use crate::dispatch::peer::PeerSocket;
use crate::limits::Limits;
use crate::limits::client_ip::TrustedProxies;
use crate::router::{RouteTable, check_route, fallback};
use crate::state::{AppState, now};
use crate::{extract, lifecycle, limits, metrics, middleware, openapi, reaper, routes};

pub struct Application {
    server: Server,
    address: SocketAddr,
    /// The metrics listener, when metrics are on.
    metrics: Option<(Server, SocketAddr)>,
    state: web::Data<AppState>,
    shutdown_grace: Duration,
}

impl Application {
    /// Opens the store (migrating it), binds the address and prepares the server; nothing
    /// is served until [`Application::run`].
    pub async fn build(config: ServerConfig) -> anyhow::Result<Self> {
        let ServerConfig {
            http_address,
            database_url,
            pool,
            settings,
            workers,
            prometheus_address,
            api_rate_limit,
            login_rate_limit,
            trusted_proxies,
            shutdown_grace,
        } = config;
        let liveness = settings.liveness;
        let store = web::block(move || Store::open(&database_url, pool, now())).await??.with_liveness(liveness);
        tracing::info!(database = %store.url().redacted(), "database ready");
        let limits = Limits::new(api_rate_limit, login_rate_limit, TrustedProxies::new(trusted_proxies));
        let state = web::Data::new(
            AppState::new(store, settings, limits).context("cannot start the password hashing threads")?,
        );
        let document = openapi::document();
        let table = web::Data::new(RouteTable::from_openapi(&document));
        let listener = TcpListener::bind(&http_address).with_context(|| format!("cannot listen on {http_address}"))?;
        let address = listener.local_addr()?;
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .map(|app| {
                    // The last wrap runs first: the query token leaves the URL before anything
                    // logs it; every request is observed (id, log line, metrics); limits refuse
                    // before a body is read or a password hashed; bodies get their deadline.
                    app.app_data(app_state.clone())
                        .app_data(table.clone())
                        .app_data(extract::json_config())
                        .wrap(from_fn(check_route))
                        .wrap(from_fn(middleware::body_timeout))
                        .wrap(from_fn(limits::rate_limit))
                        .wrap(from_fn(middleware::observe))
                        .wrap(from_fn(extract::hide_query_token))
                })
                .service(utoipa_actix_web::scope("/api/v2").configure(routes::api_v2))
                .configure(routes::root)
                .into_app()
                .service(web::redirect("/swagger", "/swagger/"))
                .service(
                    SwaggerUi::new("/swagger/{_:.*}")
                        .url("/swagger/doc.json", document.clone())
                        // No calls to swagger.io's validator: the page works offline.
                        .config(Config::default().validator_url("none").persist_authorization(true)),
                )
                .default_service(web::to(fallback))
        })
        .on_connect(PeerSocket::on_connect)
        .listen(listener)?
        // Signals are ours (see `serve_until_signal`): actix's would wait for long-polls.
        .disable_signals();
        if let Some(workers) = workers {
            server = server.workers(workers.max(1));
        }
        let server = server.run();
        let metrics = match prometheus_address {
            Some(address) => Some(metrics::server::bind(&address, state.clone())?),
            None => None,
        };
        actix_web::rt::spawn(reaper::run(state.clone()));
        Ok(Self { server, address, metrics, state, shutdown_grace })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Where metrics are served, when they are.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(_, address)| *address)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM or SIGINT, then stops as [`Stopper::stop`] does; a second
    /// signal stops at once.
    pub async fn serve_until_signal(self) -> std::io::Result<()> {
        let stopper = self.stopper();
        actix_web::rt::spawn(async move {
            lifecycle::signalled().await;
            tracing::info!("stopping: finishing requests in flight (a second signal stops at once)");
            tokio::select! {
                () = stopper.stop() => {}
                () = lifecycle::signalled() => stopper.handle.stop(false).await,
            }
        });
        self.run().await
    }

    /// What stops the server from outside: [`Stopper::stop`].
    pub fn stopper(&self) -> Stopper {
        Stopper { state: self.state.clone(), handle: self.server.handle(), grace: self.shutdown_grace }
    }

    /// Serves until stopped.
    pub async fn run(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|(server, _)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        self.state.store.close();
        served
    }
}

/// Stops a running server promptly.
#[derive(Clone)]
pub struct Stopper {
    state: web::Data<AppState>,
    handle: ServerHandle,
    grace: Duration,
}

impl Stopper {
    /// Stops accepting connections, ends what waits (acquires answer 204, log streams end),
    /// lets the requests in flight finish (for the grace period at most), then closes the
    /// idle connections and returns.
    pub async fn stop(&self) {
        let lifecycle = &self.state.lifecycle;
        lifecycle.stop();
        self.handle.pause().await;
        if !lifecycle.drained(self.grace).await {
            tracing::warn!(in_flight = lifecycle.in_flight(), grace = ?self.grace, "stopping with requests unfinished");
        }
        self.handle.stop(false).await;
    }
}
