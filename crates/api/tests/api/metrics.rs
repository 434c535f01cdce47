//! CONTRACT §8: Prometheus metrics, scraped after known traffic.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::harness::TestApp;
use crate::on_both_backends;
use storage::testing::Backend;

on_both_backends!(
    with_metrics: http_counters_match_the_requests_sent,
    metrics_are_served_on_their_own_listener_only,
    queue_metrics_follow_jobs_through_their_lives,
    websockets_are_counted_while_they_are_open,
);

mod unlimited {
    use super::*;
    on_both_backends!(with_metrics_unlimited: the_path_label_stays_bounded_whatever_clients_send);
}

const PROCESSED: &str = "coderd_api_requests_processed_total";
const LATENCIES: &str = "coderd_api_request_latencies_seconds_count";

async fn http_counters_match_the_requests_sent(app: TestApp) {
    let owner = app.owner().await;
    for _ in 0..7 {
        assert_eq!(owner.get("/api/v2/organizations/default").await.status, 200);
    }
    for n in 0..3 {
        assert_eq!(owner.get(&format!("/api/v2/organizations/missing-{n}")).await.status, 404);
    }
    let route = "/api/v2/organizations/{organization}";
    let ok = [("code", "200"), ("method", "GET"), ("path", route)];
    let missing = [("code", "404"), ("method", "GET"), ("path", route)];
    let scrape = app
        .scrape_until("ten requests counted", |s| s.count(LATENCIES, &[("method", "GET"), ("path", route)]) == 10.0)
        .await;
    assert_eq!(scrape.value(PROCESSED, &ok), Some(7.0));
    assert_eq!(scrape.value(PROCESSED, &missing), Some(3.0));
    // Nothing is in flight once every response was sent.
    assert_eq!(scrape.value("coderd_api_concurrent_requests", &[("method", "GET"), ("path", route)]), Some(0.0));
    // Sign-up and sign-in were counted under their own templates.
    assert_eq!(
        scrape.value(PROCESSED, &[("code", "201"), ("method", "POST"), ("path", "/api/v2/users/first")]),
        Some(1.0)
    );
    assert!(scrape.value("process_resident_memory_bytes", &[]).is_some_and(|bytes| bytes > 0.0));
}

async fn metrics_are_served_on_their_own_listener_only(app: TestApp) {
    let metrics = app.metrics.clone().unwrap_or_default();
    let client = reqwest::Client::new();
    for path in ["/", "/metrics"] {
        let response = client.get(format!("{metrics}{path}")).send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        assert!(response.text().await.unwrap_or_default().contains("# TYPE process_resident_memory_bytes gauge"));
    }
    let on_api = app.anonymous().get("/metrics").await;
    assert_eq!(on_api.parts(), (404, json!({ "message": "Route not found." })));
}

pub(super) async fn the_path_label_stays_bounded_whatever_clients_send(app: TestApp) {
    let owner = app.owner().await;
    let anonymous = app.anonymous();
    let send = |n: usize| {
        let (owner, anonymous) = (owner.clone(), anonymous.clone());
        async move {
            let paths = [
                format!("/api/v2/organizations/no-such-{n}"),
                format!("/api/v2/no/such/route/{n}"),
                format!("/random-{n}/{n}?q={n}"),
            ];
            for path in &paths {
                assert_eq!(owner.get(path).await.status, 404, "{path}");
            }
            assert_eq!(anonymous.get(&paths[1]).await.status, 404);
            let odd = reqwest::Method::from_bytes(format!("BREW{n}").as_bytes()).unwrap_or(reqwest::Method::GET);
            anonymous.send(anonymous.request(odd, &paths[2])).await;
        }
    };
    for n in 0..10 {
        send(n).await;
    }
    let seeded = app
        .scrape_until("the first 50 counted", |s| {
            s.count(LATENCIES, &[("method", "GET"), ("path", "unmatched")]) == 30.0
        })
        .await;
    let before = seeded.series("coderd_api_");
    for n in 10..1_010 {
        send(n).await;
    }
    let after = app
        .scrape_until("all 5 050 counted", |s| {
            s.count(LATENCIES, &[("method", "GET"), ("path", "unmatched")]) == 3_030.0
        })
        .await;
    assert_eq!(after.series("coderd_api_"), before, "series grew with the paths sent");
    assert_eq!(after.value(PROCESSED, &[("code", "404"), ("method", "OTHER"), ("path", "unmatched")]), Some(1_010.0));
}

async fn queue_metrics_follow_jobs_through_their_lives(app: TestApp) {
    let owner = app.owner().await;
    let default = owner.get("/api/v2/organizations/default").await.id();
    let key = owner.create_key(default, "builders", json!({})).await;
    let daemon = app.daemon(&key, "builder-1").await;
    let jobs = [
        owner.create_job(default, json!({})).await,
        owner.create_job(default, json!({})).await,
        owner.create_job(default, json!({})).await,
    ];
    let org = ("organization_name", "coder");
    let echo = ("provisioner", "echo");
    let scrape = app.scrape().await;
    assert_eq!(scrape.value("coderd_provisionerd_jobs_pending", &[org, echo]), Some(3.0));
    assert_eq!(scrape.value("coderd_provisionerd_jobs_current", &[org, echo]), None);
    assert_eq!(scrape.value("coderd_provisionerd_num_daemons", &[org]), Some(1.0));

    let taken = daemon.acquire_id().await;
    assert_eq!(taken, jobs[0]);
    let scrape = app.scrape().await;
    assert_eq!(scrape.value("coderd_provisionerd_jobs_pending", &[org, echo]), Some(2.0));
    assert_eq!(scrape.value("coderd_provisionerd_jobs_current", &[org, echo]), Some(1.0));
    assert_eq!(scrape.value("coderd_provisionerd_jobs_acquired_total", &[echo]), Some(1.0));
    assert_eq!(scrape.value("coderd_provisionerd_acquire_wait_seconds_count", &[("result", "acquired")]), Some(1.0));
    let queued = [("job_type", "template_version_import"), ("provisioner_type", "echo")];
    assert_eq!(scrape.value("coderd_provisioner_job_queue_wait_seconds_count", &queued), Some(1.0));

    assert_eq!(daemon.complete(taken).await.status, 200);
    let cancel = format!("/api/v2/organizations/{default}/provisionerjobs/{}/cancel", jobs[2]);
    assert_eq!(owner.post(&cancel, json!({})).await.status, 200);
    let second = daemon.acquire_id().await;
    assert_eq!(daemon.fail(second, "boom").await.status, 200);
    assert_eq!(daemon.acquire(1).await, None);

    let scrape = app.scrape().await;
    assert_eq!(scrape.value("coderd_provisionerd_jobs_pending", &[org, echo]), None);
    assert_eq!(scrape.value("coderd_provisionerd_jobs_current", &[org, echo]), None);
    let finished = "coderd_provisionerd_jobs_finished_total";
    assert_eq!(scrape.value(finished, &[("status", "succeeded")]), Some(1.0));
    assert_eq!(scrape.value(finished, &[("status", "failed")]), Some(1.0));
    assert_eq!(scrape.value(finished, &[("status", "canceled")]), Some(1.0));
    let timings = "coderd_provisionerd_job_timings_seconds_count";
    assert_eq!(scrape.value(timings, &[echo, ("status", "succeeded")]), Some(1.0));
    assert_eq!(scrape.value(timings, &[echo, ("status", "failed")]), Some(1.0));
    assert_eq!(scrape.value("coderd_provisionerd_jobs_acquired_total", &[echo]), Some(2.0));
    assert_eq!(scrape.value("coderd_provisionerd_acquire_wait_seconds_count", &[("result", "empty")]), Some(1.0));

    // How the store grouped those writes: daemons' steps in batches on PostgreSQL (two
    // acquires that took a job, at least one look of the empty one, a complete and a fail),
    // shared commits on SQLite.
    let batches = scrape.value("api_store_job_step_batches_total", &[]).unwrap_or_default();
    let steps = scrape.value("api_store_job_steps_total", &[]).unwrap_or_default();
    // The daemon's sign-ins (registering, then five calls naming it): kept once read (on
    // PostgreSQL, once its listener hears changes).
    let kept = scrape.value("api_store_daemon_sign_ins_kept_total", &[]).unwrap_or_default();
    let read = scrape.value("api_store_daemon_sign_ins_read_total", &[]).unwrap_or_default();
    match app.backend {
        Backend::Postgres => {
            assert!(steps >= 5.0 && (1.0..=steps).contains(&batches), "{batches} batches of {steps} steps");
            assert_eq!(scrape.value("api_store_group_commits_total", &[]), None);
            assert!(kept >= 1.0 && read >= 2.0 && kept + read == 6.0, "{kept} kept, {read} read");
        }
        Backend::Sqlite => {
            assert_eq!((batches, steps), (0.0, 0.0));
            assert_eq!((kept, read), (4.0, 2.0));
            let commits = scrape.value("api_store_group_commits_total", &[]).unwrap_or_default();
            let writes = scrape.value("api_store_grouped_writes_total", &[]).unwrap_or_default();
            assert!(commits >= 5.0 && writes >= commits, "{commits} commits of {writes} writes");
        }
    }
}

async fn websockets_are_counted_while_they_are_open(app: TestApp) {
    let w = app.runner().await;
    let job = w.owner.create_job(w.organization, json!({})).await;
    w.daemon.acquire_id().await;
    let mut socket = w.follow_logs(job).await;
    let route = ("path", "/api/v2/organizations/{organization}/provisionerjobs/{job}/logs");
    app.scrape_until("one open websocket", |s| s.count("coderd_api_concurrent_websockets", &[route]) == 1.0).await;
    w.daemon.complete(job).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(frame)) = socket.next().await {
            if matches!(frame, awc::ws::Frame::Close(_)) {
                break;
            }
        }
    });
    assert!(ended.await.is_ok(), "the stream did not end");
    drop(socket);
    let scrape = app
        .scrape_until("the websocket closed", |s| s.count("coderd_api_concurrent_websockets", &[route]) == 0.0)
        .await;
    assert_eq!(scrape.value("coderd_api_websocket_durations_seconds_count", &[route]), Some(1.0));
    assert_eq!(scrape.value(PROCESSED, &[("code", "101"), ("method", "GET"), route]), Some(1.0));
}
