//! The reaper: fails jobs that waited or hung too long. Safe with several servers on one
//! database: each job is taken under a row lock (PostgreSQL) or the write lock (SQLite).

use std::time::Duration;

use actix_web::web;
use domain::repo::JobRepo;

use crate::state::{AppState, now};

/// How often to look, from the shorter period: often enough to be on time within a few
/// percent, never more than every 30 s.
fn interval(state: &AppState) -> Duration {
    let reaper = state.settings.reaper;
    let shortest = reaper.pending_after.min(reaper.hung_after).to_std().unwrap_or(Duration::from_secs(60));
    (shortest / 10).clamp(Duration::from_millis(100), Duration::from_secs(30))
}

pub async fn run(state: web::Data<AppState>) {
    let mut ticks = tokio::time::interval(interval(&state));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let reaper = state.settings.reaper;
        match state.db(move |store| store.reap_jobs(reaper, now())).await {
            Ok(reaped) => {
                state.metrics.queue.reaped(&reaped.iter().map(|(_, verdict)| *verdict).collect::<Vec<_>>());
                for (job, verdict) in reaped {
                    tracing::warn!(%job, reason = %verdict.error_message(), "reaped a provisioner job");
                }
            }
            Err(error) => tracing::warn!(%error, "the reaper could not run"),
        }
    }
}
