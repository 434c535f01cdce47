//! CONTRACT §1: faults of ours answer the fixed texts, never a crash or a leak.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::TestApp;
use crate::on_both_backends;

on_both_backends!(a_broken_schema_answers_the_fixed_500_text);

async fn a_broken_schema_answers_the_fixed_500_text(app: TestApp) {
    let owner = app.owner().await;
    app.database().execute("ALTER TABLE provisioner_keys RENAME TO provisioner_keys_gone");
    let reply = owner.get("/api/v2/organizations/default/provisionerkeys").await;
    assert_eq!(reply.parts(), (500, json!({ "message": "An internal server error occurred." })));
    // The rest of the server is unaffected.
    assert_eq!(owner.get("/api/v2/organizations").await.status, 200);
}

#[actix_web::test]
async fn a_database_that_goes_away_answers_503_and_the_server_recovers() {
    let Some(app) = TestApp::spawn_with(storage::testing::Backend::Postgres, |config| {
        config.pool.connection_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let owner = app.owner().await;
    app.database().set_reachable(false);
    let started = Instant::now();
    let reply = owner.get("/api/v2/organizations").await;
    assert_eq!(reply.parts(), (503, json!({ "message": "The database is unavailable. Please try again later." })));
    assert!(started.elapsed() < Duration::from_secs(10));
    app.database().set_reachable(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut status = 0;
    while status != 200 && Instant::now() < deadline {
        status = owner.get("/api/v2/organizations").await.status;
    }
    assert_eq!(status, 200, "the server did not recover");
}
