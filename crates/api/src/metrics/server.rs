//! The metrics listener: its own address (Coder's default, loopback port 2112), so that the
//! API's port never exposes them. `/` and `/metrics` both answer the Prometheus text format.

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;

use super::queue::{scraped_gauges, store_counters};
use crate::state::{AppState, now};

/// A scrape waits at most this long for the database; without it, the gauges read there
/// are left out and the rest is served.
const DATABASE_WAIT: Duration = Duration::from_secs(2);

/// Binds the listener; nothing is served until the server is awaited.
pub fn bind(address: &str, state: web::Data<AppState>) -> anyhow::Result<(Server, SocketAddr)> {
    let listener = TcpListener::bind(address).with_context(|| format!("cannot listen on {address} for metrics"))?;
    let bound = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new().app_data(state.clone()).route("/", web::get().to(scrape)).route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((server, bound))
}

async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    let online_after = state.settings.liveness.seen_after(now());
    let read = state.run(move |store| store.queue_gauges(online_after));
    let scraped = match tokio::time::timeout(DATABASE_WAIT, read).await {
        Ok(Ok(Ok(gauges))) => scraped_gauges(&gauges),
        Ok(Ok(Err(error))) => {
            tracing::warn!(%error, "queue gauges left out of a scrape");
            Vec::new()
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "queue gauges left out of a scrape");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("queue gauges left out of a scrape: the database did not answer within 2s");
            Vec::new()
        }
    };
    let mut scraped = scraped;
    let store = &state.store;
    scraped.extend(store_counters(store.job_step_batches(), store.grouped_commits(), store.daemon_sign_ins()));
    HttpResponse::Ok().insert_header((CONTENT_TYPE, prometheus::TEXT_FORMAT)).body(state.metrics.render(scraped))
}
