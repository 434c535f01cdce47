//! CONTRACT §8: liveness and readiness probes.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::TestApp;
use crate::on_both_backends;

on_both_backends!(readiness_says_ready_when_the_database_answers);

async fn readiness_says_ready_when_the_database_answers(app: TestApp) {
    let reply = app.anonymous().get("/readyz").await;
    assert_eq!(reply.parts(), (200, json!({ "message": "Ready." })));
    let live = app.anonymous().get("/healthz").await;
    assert_eq!((live.status, live.text.as_str()), (200, "OK"));
}

#[actix_web::test]
async fn readiness_fails_with_the_reason_while_the_database_is_down_and_recovers() {
    let Some(app) = TestApp::spawn_with(storage::testing::Backend::Postgres, |config| {
        config.pool.connection_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let anonymous = app.anonymous();
    assert_eq!(anonymous.get("/readyz").await.status, 200);
    app.database().set_reachable(false);
    let started = Instant::now();
    let down = anonymous.get("/readyz").await;
    assert!(started.elapsed() < Duration::from_secs(3), "readyz took {:?}", started.elapsed());
    assert_eq!((down.status, &down.body["message"]), (503, &json!("Not ready.")));
    let detail = down.body["detail"].as_str().unwrap_or_default();
    assert!(detail.starts_with("database unavailable: "), "{detail}");
    // The database's own refusal, not only that the wait ran out.
    assert!(detail.contains("is not currently accepting connections"), "{detail}");
    assert!(!detail.contains('\n'), "{detail}");
    // Liveness does not depend on the database.
    assert_eq!(anonymous.get("/healthz").await.status, 200);
    app.database().set_reachable(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    while status != 200 && Instant::now() < deadline {
        status = anonymous.get("/readyz").await.status;
    }
    assert_eq!(status, 200, "readiness did not come back");
}
